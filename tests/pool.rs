//! The 2x2 max-pool kernel: candle's forward, TensorFlow's gradient (first maximum
//! of each window takes it all, ties included).

mod common;

use candle_core::{Device, Tensor, Var};
use ganlab::kernels::max_pool2d;

/// The gradient of `sum(max_pool2d(x, 2) * probe)` with respect to `x`, flattened.
fn pool_grad(x: &Tensor, probe: &Tensor) -> Vec<f32> {
    let v = Var::from_tensor(x).unwrap();
    let y = max_pool2d(v.as_tensor(), 2).unwrap().mul(probe).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    g.get(&v).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn max_pool_matches_candle_forward_and_routes_the_gradient_to_each_maximum() {
    // Odd sizes: the trailing row and column are dropped, as Keras's 'valid' pool.
    let x = common::rand_tensor(&[3, 4, 9, 7], -1.0, 1.0, 5);
    let ours = max_pool2d(&x, 2).unwrap();
    let theirs = x.max_pool2d(2).unwrap();
    assert_eq!(ours.dims(), theirs.dims());
    let d = common::max_abs(&ours, &theirs);
    assert_eq!(d, 0.0);
    // Gradient of sum(pool(x) * r): r at each window's maximum, 0 elsewhere.
    let r = common::rand_tensor(&[3, 4, 4, 3], -1.0, 1.0, 6);
    let g = pool_grad(&x, &r);
    let (xv, rv) = (
        x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        r.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
    );
    let mut want = vec![0f32; xv.len()];
    for p in 0..12 {
        for i in 0..4 {
            for j in 0..3 {
                let cells = [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(a, b)| p * 63 + (2 * i + a) * 7 + 2 * j + b);
                let best = cells
                    .iter()
                    .copied()
                    .fold(cells[0], |m, k| if xv[k] > xv[m] { k } else { m });
                want[best] = rv[p * 12 + i * 3 + j];
            }
        }
    }
    assert_eq!(g, want);
}

#[test]
fn max_pool_gives_a_tied_window_gradient_to_its_first_maximum() {
    // One window of four equal values, one with a tie in its second row.
    let x = Tensor::from_vec(vec![1f32, 1., 0., 2., 1., 1., 5., 5.], (1, 1, 2, 4), &Device::Cpu).unwrap();
    let g = pool_grad(
        &x,
        &Tensor::ones((1, 1, 1, 2), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    assert_eq!(g, vec![1., 0., 0., 0., 0., 0., 1., 0.]);
}
