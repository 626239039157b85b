//! Batch and layer normalisation, as PyTorch's `nn.BatchNorm1d` and `nn.LayerNorm` define
//! them. Chunks hold `width`-long sample columns. Batch norm needs whole-batch statistics:
//! its functions compute per-chunk partial sums that the executor adds in chunk order.

/// `out[f] = sum over the chunk's samples of x[f]`.
pub fn feature_sums(x: &[f32], width: usize, out: &mut [f32]) {
    out.fill(0.0);
    for column in x.chunks_exact(width) {
        out.iter_mut().zip(column).for_each(|(o, v)| *o += v);
    }
}

/// `out[f] = sum over the chunk's samples of (x[f] - mean[f])^2`.
pub fn feature_squared_deviations(x: &[f32], mean: &[f32], width: usize, out: &mut [f32]) {
    out.fill(0.0);
    for column in x.chunks_exact(width) {
        for ((o, v), m) in out.iter_mut().zip(column).zip(mean) {
            let d = v - m;
            *o += d * d;
        }
    }
}

/// `xhat = (x - mean) * inv_std` and `y = gamma * xhat + beta`, per feature.
pub fn batch_norm_apply(
    x: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    beta: &[f32],
    xhat: &mut [f32],
    y: &mut [f32],
) {
    let width = mean.len();
    for ((x, xhat), y) in x.chunks_exact(width).zip(xhat.chunks_exact_mut(width)).zip(y.chunks_exact_mut(width)) {
        for f in 0..width {
            xhat[f] = (x[f] - mean[f]) * inv_std[f];
            y[f] = gamma[f] * xhat[f] + beta[f];
        }
    }
}

/// Per-chunk parameter gradients of either norm: `dgamma = sum dy * xhat`, `dbeta = sum dy`.
pub fn affine_grads(dy: &[f32], xhat: &[f32], width: usize, dgamma: &mut [f32], dbeta: &mut [f32]) {
    dgamma.fill(0.0);
    dbeta.fill(0.0);
    for (dy, xhat) in dy.chunks_exact(width).zip(xhat.chunks_exact(width)) {
        for f in 0..width {
            dgamma[f] += dy[f] * xhat[f];
            dbeta[f] += dy[f];
        }
    }
}

/// Batch norm's input gradient from the whole batch's `sum dy` (= dbeta) and `sum dy xhat`
/// (= dgamma) over `n` samples: `dx = gamma inv_std / n * (n dy - sum dy - xhat sum dy xhat)`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_input_grad(
    dy: &[f32],
    xhat: &[f32],
    gamma: &[f32],
    inv_std: &[f32],
    sum_dy: &[f32],
    sum_dy_xhat: &[f32],
    n: usize,
    dx: &mut [f32],
) {
    let width = gamma.len();
    let n = n as f32;
    for ((dy, xhat), dx) in dy.chunks_exact(width).zip(xhat.chunks_exact(width)).zip(dx.chunks_exact_mut(width)) {
        for f in 0..width {
            dx[f] = gamma[f] * inv_std[f] / n * (n * dy[f] - sum_dy[f] - xhat[f] * sum_dy_xhat[f]);
        }
    }
}

/// Evaluation-mode batch norm with the running statistics.
pub fn batch_norm_eval(x: &[f32], mean: &[f32], var: &[f32], eps: f32, gamma: &[f32], beta: &[f32], y: &mut [f32]) {
    let width = mean.len();
    for (x, y) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
        for f in 0..width {
            y[f] = gamma[f] * (x[f] - mean[f]) / (var[f] + eps).sqrt() + beta[f];
        }
    }
}

/// Layer norm of each sample: `xhat = (x - mean) / sqrt(var + eps)` over its features, biased
/// variance; `y = gamma * xhat + beta`; keeps `xhat` and each sample's `inv_std`.
pub fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    xhat: &mut [f32],
    inv_std: &mut [f32],
    y: &mut [f32],
) {
    let width = gamma.len();
    let samples = x.chunks_exact(width).zip(xhat.chunks_exact_mut(width)).zip(y.chunks_exact_mut(width));
    for (((x, xhat), y), inv) in samples.zip(inv_std.iter_mut()) {
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / width as f64;
        let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / width as f64;
        *inv = (1.0 / (var + f64::from(eps)).sqrt()) as f32;
        for f in 0..width {
            xhat[f] = (x[f] - mean as f32) * *inv;
            y[f] = gamma[f] * xhat[f] + beta[f];
        }
    }
}

/// Layer norm's input gradient, per sample:
/// `dx = inv_std * (g - mean(g) - xhat * mean(g * xhat))` with `g = dy * gamma`.
pub fn layer_norm_input_grad(dy: &[f32], xhat: &[f32], gamma: &[f32], inv_std: &[f32], dx: &mut [f32]) {
    let width = gamma.len();
    let samples = dy.chunks_exact(width).zip(xhat.chunks_exact(width)).zip(dx.chunks_exact_mut(width));
    for (((dy, xhat), dx), &inv) in samples.zip(inv_std) {
        let (mut mean_g, mut mean_gx) = (0.0f32, 0.0f32);
        for f in 0..width {
            let g = dy[f] * gamma[f];
            mean_g += g;
            mean_gx += g * xhat[f];
        }
        mean_g /= width as f32;
        mean_gx /= width as f32;
        for f in 0..width {
            dx[f] = inv * (dy[f] * gamma[f] - mean_g - xhat[f] * mean_gx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDTH: usize = 3;
    const N: usize = 4;

    fn sample_inputs() -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let x: Vec<f32> = (0..WIDTH * N).map(|i| (i as f32 * 1.7).sin() * 2.0).collect();
        let gamma = vec![1.2, 0.7, -0.4];
        let beta = vec![0.1, -0.3, 0.5];
        let r: Vec<f32> = (0..WIDTH * N).map(|i| (i as f32 * 0.61).cos()).collect();
        (x, gamma, beta, r)
    }

    /// Whole-batch batch norm in one chunk, as the executor runs it.
    fn batch_norm(x: &[f32], gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut mean = vec![0.0; WIDTH];
        feature_sums(x, WIDTH, &mut mean);
        mean.iter_mut().for_each(|m| *m /= N as f32);
        let mut var = vec![0.0; WIDTH];
        feature_squared_deviations(x, &mean, WIDTH, &mut var);
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v / N as f32 + 1e-5).sqrt()).collect();
        let (mut xhat, mut y) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        batch_norm_apply(x, &mean, &inv_std, gamma, beta, &mut xhat, &mut y);
        (y, xhat, inv_std)
    }

    fn check(name: &str, analytic: &[f32], objective: impl Fn(&[f32]) -> f64, at: &[f32]) {
        for i in 0..at.len() {
            let h = 1e-2f32;
            let mut up = at.to_vec();
            up[i] += h;
            let mut down = at.to_vec();
            down[i] -= h;
            let numeric = (objective(&up) - objective(&down)) / (2.0 * f64::from(h));
            assert!((f64::from(analytic[i]) - numeric).abs() < 2e-3, "{name}[{i}]: {} vs {numeric}", analytic[i]);
        }
    }

    #[test]
    fn batch_norm_gradients_match_finite_differences() {
        let (x, gamma, beta, r) = sample_inputs();
        let objective = |x: &[f32], gamma: &[f32], beta: &[f32]| {
            let (y, _, _) = batch_norm(x, gamma, beta);
            y.iter().zip(&r).map(|(y, r)| f64::from(y * r)).sum::<f64>()
        };
        let (_, xhat, inv_std) = batch_norm(&x, &gamma, &beta);
        let (mut dgamma, mut dbeta) = (vec![0.0; WIDTH], vec![0.0; WIDTH]);
        affine_grads(&r, &xhat, WIDTH, &mut dgamma, &mut dbeta);
        let mut dx = vec![0.0; x.len()];
        batch_norm_input_grad(&r, &xhat, &gamma, &inv_std, &dbeta, &dgamma, N, &mut dx);
        check("dx", &dx, |x| objective(x, &gamma, &beta), &x);
        check("dgamma", &dgamma, |g| objective(&x, g, &beta), &gamma);
        check("dbeta", &dbeta, |b| objective(&x, &gamma, b), &beta);
    }

    #[test]
    fn layer_norm_gradients_match_finite_differences() {
        let (x, gamma, beta, r) = sample_inputs();
        let run = |x: &[f32], gamma: &[f32], beta: &[f32]| {
            let (mut xhat, mut inv, mut y) = (vec![0.0; x.len()], vec![0.0; N], vec![0.0; x.len()]);
            layer_norm_forward(x, gamma, beta, 1e-5, &mut xhat, &mut inv, &mut y);
            (y, xhat, inv)
        };
        let objective = |x: &[f32], gamma: &[f32], beta: &[f32]| {
            run(x, gamma, beta).0.iter().zip(&r).map(|(y, r)| f64::from(y * r)).sum::<f64>()
        };
        let (_, xhat, inv) = run(&x, &gamma, &beta);
        let (mut dgamma, mut dbeta) = (vec![0.0; WIDTH], vec![0.0; WIDTH]);
        affine_grads(&r, &xhat, WIDTH, &mut dgamma, &mut dbeta);
        let mut dx = vec![0.0; x.len()];
        layer_norm_input_grad(&r, &xhat, &gamma, &inv, &mut dx);
        check("dx", &dx, |x| objective(x, &gamma, &beta), &x);
        check("dgamma", &dgamma, |g| objective(&x, g, &beta), &gamma);
        check("dbeta", &dbeta, |b| objective(&x, &gamma, b), &beta);
    }

    #[test]
    fn normalised_features_have_zero_mean_and_unit_variance() {
        let (x, _, _, _) = sample_inputs();
        let (y, _, _) = batch_norm(&x, &[1.0; WIDTH], &[0.0; WIDTH]);
        for f in 0..WIDTH {
            let values: Vec<f32> = y.chunks_exact(WIDTH).map(|c| c[f]).collect();
            let mean = values.iter().sum::<f32>() / N as f32;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / N as f32;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3, "feature {f}: {mean} {var}");
        }
    }
}
