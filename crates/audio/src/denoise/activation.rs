//! The network's activation functions: tanh and the sigmoid derived from it.
//!
//! RNNoise (and nnnoiseless) evaluate tanh from a table (tanh at steps of 0.04 on
//! [0, 8]) with a cubic correction, within 1e-4 of tanh. A table lookup needs a
//! gather in SIMD, slow on many x86 cores, so here tanh is a rational function
//! (the [13/6] minimax approximation Eigen uses for `float`), within a few
//! 1e-7 of tanh: closer to tanh than the table, with only multiplies, adds and
//! one division, which vectorise on any target. The table stays in the tests as
//! the reference the approximation is held to; it is RNNoise's
//! `tansig_table.h` as carried by nnnoiseless (BSD-3-Clause).

#[cfg(test)]
const TANSIG_TABLE: [f32; 201] = [
    0.000000, 0.039979, 0.079830, 0.119427, 0.158649, 0.197375, 0.235496, 0.272905, 0.309507,
    0.345214, 0.379949, 0.413644, 0.446244, 0.477700, 0.507977, 0.537050, 0.564900, 0.591519,
    0.616909, 0.641077, 0.664037, 0.685809, 0.706419, 0.725897, 0.744277, 0.761594, 0.777888,
    0.793199, 0.807569, 0.821040, 0.833655, 0.845456, 0.856485, 0.866784, 0.876393, 0.885352,
    0.893698, 0.901468, 0.908698, 0.915420, 0.921669, 0.927473, 0.932862, 0.937863, 0.942503,
    0.946806, 0.950795, 0.954492, 0.957917, 0.961090, 0.964028, 0.966747, 0.969265, 0.971594,
    0.973749, 0.975743, 0.977587, 0.979293, 0.980869, 0.982327, 0.983675, 0.984921, 0.986072,
    0.987136, 0.988119, 0.989027, 0.989867, 0.990642, 0.991359, 0.992020, 0.992631, 0.993196,
    0.993718, 0.994199, 0.994644, 0.995055, 0.995434, 0.995784, 0.996108, 0.996407, 0.996682,
    0.996937, 0.997172, 0.997389, 0.997590, 0.997775, 0.997946, 0.998104, 0.998249, 0.998384,
    0.998508, 0.998623, 0.998728, 0.998826, 0.998916, 0.999000, 0.999076, 0.999147, 0.999213,
    0.999273, 0.999329, 0.999381, 0.999428, 0.999472, 0.999513, 0.999550, 0.999585, 0.999617,
    0.999646, 0.999673, 0.999699, 0.999722, 0.999743, 0.999763, 0.999781, 0.999798, 0.999813,
    0.999828, 0.999841, 0.999853, 0.999865, 0.999875, 0.999885, 0.999893, 0.999902, 0.999909,
    0.999916, 0.999923, 0.999929, 0.999934, 0.999939, 0.999944, 0.999948, 0.999952, 0.999956,
    0.999959, 0.999962, 0.999965, 0.999968, 0.999970, 0.999973, 0.999975, 0.999977, 0.999978,
    0.999980, 0.999982, 0.999983, 0.999984, 0.999986, 0.999987, 0.999988, 0.999989, 0.999990,
    0.999990, 0.999991, 0.999992, 0.999992, 0.999993, 0.999994, 0.999994, 0.999994, 0.999995,
    0.999995, 0.999996, 0.999996, 0.999996, 0.999997, 0.999997, 0.999997, 0.999997, 0.999997,
    0.999998, 0.999998, 0.999998, 0.999998, 0.999998, 0.999998, 0.999999, 0.999999, 0.999999,
    0.999999, 0.999999, 0.999999, 0.999999, 0.999999, 0.999999, 0.999999, 0.999999, 0.999999,
    0.999999, 1.000000, 1.000000, 1.000000, 1.000000, 1.000000, 1.000000, 1.000000, 1.000000,
    1.000000, 1.000000, 1.000000,
];

/// Approximate tanh, one value at a time: the reference the slice versions are
/// tested against. Comparisons are written so NaN maps to 1 instead of indexing
/// the table with garbage.
#[cfg(test)]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // deliberate: NaN must take these branches
pub(crate) fn tansig(x: f32) -> f32 {
    if !(x < 8.0) {
        return 1.0;
    }
    if !(x > -8.0) {
        return -1.0;
    }
    let (mut x, sign) = if x < 0.0 { (-x, -1.0) } else { (x, 1.0) };
    let i = (0.5 + 25.0 * x).floor();
    x -= 0.04 * i;
    // 0 <= i <= 200 because |x| < 8.
    let y = TANSIG_TABLE[i as usize];
    let dy = 1.0 - y * y;
    let y = y + x * dy * (1.0 - y * x);
    sign * y
}

/// Approximate logistic sigmoid.
#[cfg(test)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    0.5 + 0.5 * tansig(0.5 * x)
}

/// Beyond this magnitude the approximation is rounded to +-1 anyway.
const TANH_CLAMP: f32 = 7.905_311;
/// Odd numerator coefficients `x, x^3, .., x^13`.
const TANH_NUM: [f32; 7] = [
    4.893_524_6e-3,
    6.372_619_3e-4,
    1.485_722_4e-5,
    5.122_297e-8,
    -8.604_672e-11,
    2.000_188e-13,
    -2.760_768_5e-16,
];
/// Even denominator coefficients `1, x^2, .., x^6`.
const TANH_DEN: [f32; 4] = [4.893_525_3e-3, 2.268_434_7e-3, 1.185_347e-4, 1.198_258_4e-6];

/// tanh by the rational approximation in the module docs. NaN maps to about -1
/// (the clamp's `max` drops it), so a NaN can never leave a layer.
#[inline(always)]
#[allow(clippy::manual_clamp)] // deliberate: `clamp` would pass NaN through
pub(crate) fn tanh_approx(x: f32) -> f32 {
    let x = x.max(-TANH_CLAMP).min(TANH_CLAMP);
    let x2 = x * x;
    let mut p = TANH_NUM[6];
    for &c in TANH_NUM[..6].iter().rev() {
        p = p * x2 + c;
    }
    let mut q = TANH_DEN[3];
    for &c in TANH_DEN[..3].iter().rev() {
        q = q * x2 + c;
    }
    x * p / q
}

/// tanh over a slice; inlined into each kernel so it vectorises for that
/// kernel's instruction set (same operations, so the same results).
#[inline(always)]
pub(crate) fn tansig_slice(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        *v = tanh_approx(*v);
    }
}

/// Logistic sigmoid over a slice, as `0.5 + 0.5 tanh(x / 2)` (RNNoise's form).
#[inline(always)]
pub(crate) fn sigmoid_slice(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        *v = 0.5 + 0.5 * tanh_approx(0.5 * *v);
    }
}

/// Rectified linear unit.
#[inline]
pub(crate) fn relu(x: f32) -> f32 {
    x.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tansig_tracks_tanh_and_saturates() {
        for i in -1000..=1000 {
            let x = i as f32 / 100.0;
            assert!((tansig(x) - x.tanh()).abs() < 1e-4, "x={x}");
        }
        assert_eq!(tansig(f32::NAN), 1.0);
        assert_eq!(tansig(f32::NEG_INFINITY), -1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-6);
        assert_eq!(relu(-3.0), 0.0);
    }

    /// The rational tanh is closer to tanh than RNNoise's table, and within the
    /// table's own error of it, over the whole range; NaN and infinities give
    /// +-1 or -1, never NaN.
    #[test]
    fn rational_tanh_tracks_tanh_and_the_table() {
        let xs: Vec<f32> = (-2100..=2100).map(|i| i as f32 / 200.0).collect();
        let mut t = xs.clone();
        tansig_slice(&mut t);
        let mut s = xs.clone();
        sigmoid_slice(&mut s);
        for ((&x, &t), &s) in xs.iter().zip(&t).zip(&s) {
            let exact = f64::from(x).tanh();
            assert!(
                (f64::from(t) - exact).abs() < 1e-6,
                "tanh {x}: {t} vs {exact}"
            );
            assert!(
                (t - tansig(x)).abs() < 1e-4,
                "table {x}: {t} vs {}",
                tansig(x)
            );
            let exact_s = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!((f64::from(s) - exact_s).abs() < 1e-6, "sigmoid {x}");
            assert!((s - sigmoid(x)).abs() < 1e-4);
        }
        let mut odd = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30];
        tansig_slice(&mut odd);
        for (got, want) in odd.iter().zip([-1.0f32, 1.0, -1.0, 1.0, -1.0]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
