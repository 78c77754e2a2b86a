//! Token lengths as log-normal distributions: a median and a 95th percentile are what people can
//! say about their prompts and answers, and a log-normal is the usual shape of such lengths (most
//! short, a long tail).

use crate::scenario::Lengths;

/// z of the standard normal's 95th percentile.
pub(crate) const Z95: f64 = 1.644_853_626_951_472_2;

/// A log-normal distribution: ln X is normal with mean `mu` and deviation `sigma`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNormal {
    pub mu: f64,
    pub sigma: f64,
}

impl LogNormal {
    /// The log-normal with this median and 95th percentile.
    pub fn from_lengths(lengths: Lengths) -> LogNormal {
        LogNormal {
            mu: lengths.median.ln(),
            sigma: (lengths.p95 / lengths.median).ln() / Z95,
        }
    }

    /// The same distribution, every value multiplied by `factor` (tokens → seconds).
    pub fn scaled(self, factor: f64) -> LogNormal {
        LogNormal {
            mu: self.mu + factor.ln(),
            sigma: self.sigma,
        }
    }

    pub fn mean(self) -> f64 {
        (self.mu + self.sigma * self.sigma / 2.0).exp()
    }

    pub fn variance(self) -> f64 {
        let s2 = self.sigma * self.sigma;
        (s2.exp() - 1.0) * (2.0 * self.mu + s2).exp()
    }

    /// P(X > x).
    pub fn survival(self, x: f64) -> f64 {
        match x > 0.0 {
            false => 1.0,
            true if self.sigma == 0.0 => f64::from(u8::from(x < self.mu.exp())),
            true => normal_tail((x.ln() - self.mu) / self.sigma),
        }
    }
}

/// P(Z > z) for the standard normal.
pub fn normal_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The standard normal's density.
pub fn normal_density(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The complementary error function (Numerical Recipes' `erfcc`, Chebyshev fit: relative error
/// under 1.2 × 10⁻⁷ everywhere).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let tail = t * poly.exp();
    match x >= 0.0 {
        true => tail,
        false => 2.0 - tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_and_p95_given_are_the_distributions() {
        let d = LogNormal::from_lengths(Lengths {
            median: 800.0,
            p95: 3000.0,
        });
        assert!((d.survival(800.0) - 0.5).abs() < 1e-6);
        assert!((d.survival(3000.0) - 0.05).abs() < 1e-6);
        assert!(
            d.mean() > 800.0,
            "a long tail pulls the mean above the median"
        );
        let s = d.scaled(0.001);
        assert!((s.survival(3.0) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn erfc_matches_known_values() {
        for (x, expected) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (2.0, 0.004_677_734_981_047_266),
            (-1.0, 1.842_700_792_949_715),
        ] {
            assert!(
                ((erfc(x) - expected) / expected).abs() < 2e-7,
                "erfc({x}) = {}",
                erfc(x)
            );
        }
        assert!((normal_tail(Z95) - 0.05).abs() < 1e-7);
    }

    #[test]
    fn equal_median_and_p95_is_a_constant() {
        let d = LogNormal::from_lengths(Lengths {
            median: 100.0,
            p95: 100.0,
        });
        assert_eq!(d.survival(99.0), 1.0);
        assert_eq!(d.survival(101.0), 0.0);
        assert!((d.mean() - 100.0).abs() < 1e-9);
    }
}
