"""An independent reference: torch.nn.RNN and torch.nn.LSTM with the same
weights, forward and backward, in float64. Skipped when torch is absent
(torch is not a dependency of the package)."""
import numpy as np
import pytest

from cs231n.rnn_layers import lstm_backward, lstm_forward, rnn_backward, rnn_forward

torch = pytest.importorskip('torch')


def torch_run(cell, x, h0, Wx, Wh, b, dout):
    """Run a one-layer torch cell with our weights; return h and the gradients.

    torch computes h W_ih^T + b_ih + h W_hh^T + b_hh, so W_ih = Wx^T, W_hh = Wh^T,
    b_ih = b, b_hh = 0. torch's LSTM gate order is i, f, g, o; ours is i, f, o, g.
    """
    H = h0.shape[1]
    perm = np.arange(Wx.shape[1])
    if cell == 'lstm':
        perm = np.concatenate([np.arange(0, 2 * H), np.arange(3 * H, 4 * H), np.arange(2 * H, 3 * H)])
        net = torch.nn.LSTM(x.shape[2], H, batch_first=True).double()
    else:
        net = torch.nn.RNN(x.shape[2], H, nonlinearity='tanh', batch_first=True).double()
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(Wx[:, perm].T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(Wh[:, perm].T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(b[perm].copy()))
        net.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0[None]).requires_grad_()
    if cell == 'lstm':
        out, _ = net(xt, (h0t, torch.zeros_like(h0t)))
    else:
        out, _ = net(xt, h0t)
    out.backward(torch.from_numpy(dout))
    inv = np.argsort(perm)
    return (out.detach().numpy(), xt.grad.numpy(), h0t.grad.numpy()[0],
            net.weight_ih_l0.grad.numpy().T[:, inv], net.weight_hh_l0.grad.numpy().T[:, inv],
            net.bias_ih_l0.grad.numpy()[inv])


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
@pytest.mark.parametrize('N,T,D,H', [(1, 1, 3, 2), (4, 7, 5, 6), (3, 16, 8, 10)])
def test_matches_torch(cell, N, T, D, H):
    rng = np.random.default_rng(N * T)
    G = 4 * H if cell == 'lstm' else H
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = 0.5 * rng.standard_normal((D, G)), 0.5 * rng.standard_normal((H, G)), rng.standard_normal(G)
    dout = rng.standard_normal((N, T, H))
    fwd, bwd = (rnn_forward, rnn_backward) if cell == 'rnn' else (lstm_forward, lstm_backward)
    h, cache = fwd(x, h0, Wx, Wh, b)
    ours = (h,) + tuple(bwd(dout, cache))
    ref = torch_run(cell, x, h0, Wx, Wh, b, dout)
    for name, a, r in zip(['h', 'dx', 'dh0', 'dWx', 'dWh', 'db'], ours, ref):
        assert a.shape == r.shape, name
        assert np.allclose(a, r, rtol=1e-10, atol=1e-12), name
