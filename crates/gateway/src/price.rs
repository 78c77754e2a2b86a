//! What a request costs: a model's prices, the cost of tokens in integer micro-units of the group's
//! currency, and the estimate admission and scheduling reserve before the backend counts anything.
//! A leaf of the crate.

/// A model's prices, per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Price {
    pub input_micros_per_million: u64,
    pub output_micros_per_million: u64,
}

impl Price {
    /// The cost of `prompt` input and `completion` output tokens.
    pub fn of(&self, prompt: u64, completion: u64) -> u64 {
        cost(prompt, self.input_micros_per_million)
            + cost(completion, self.output_micros_per_million)
    }
}

/// What a request is expected to consume, before the backend counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    pub prompt_tokens: u64,
    /// The completion the caller allows (`max_tokens`), else the configured default; none for
    /// embeddings.
    pub completion_tokens: u64,
}

impl Estimate {
    /// The estimate of a request whose body, as sent to the model, is `body_len` bytes, and that
    /// allows `max_tokens` (else `default_completion` is expected).
    pub fn new(body_len: usize, max_tokens: Option<u64>, default_completion: u64) -> Estimate {
        Estimate {
            prompt_tokens: prompt_estimate(body_len),
            completion_tokens: max_tokens.unwrap_or(default_completion),
        }
    }
}

/// The prompt's tokens before the backend counts them: the body's length over four bounds them from
/// above for the usual tokenizers (JSON syntax included), so a reservation rarely falls short;
/// settlement corrects the rest.
pub(crate) fn prompt_estimate(body_len: usize) -> u64 {
    (body_len as u64).div_ceil(4)
}

/// Cost in micro-units for `tokens` at `micros_per_million`, rounded half up, in integers only.
pub(crate) fn cost(tokens: u64, micros_per_million: u64) -> u64 {
    ((u128::from(tokens) * u128::from(micros_per_million) + 500_000) / 1_000_000) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn cost_is_integer_and_rounded() {
        // 1,500 tokens at 2.00 per million (2,000,000 micros) = 3,000 micros.
        assert_eq!(super::cost(1_500, 2_000_000), 3_000);
        assert_eq!(super::cost(1, 400_000), 0);
        assert_eq!(super::cost(2, 400_000), 1);
        assert_eq!(super::cost(0, 9_000_000), 0);
    }
}
