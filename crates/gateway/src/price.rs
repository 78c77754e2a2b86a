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
    /// The cost of `prompt` input and `completion` output tokens; `u64::MAX` at most, so a huge
    /// estimate never wraps into a small one.
    pub fn of(&self, prompt: u64, completion: u64) -> u64 {
        cost(prompt, self.input_micros_per_million)
            .saturating_add(cost(completion, self.output_micros_per_million))
    }
}

/// What a request is expected to consume, before the backend counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    pub prompt_tokens: u64,
    /// The completion the caller allows (`max_tokens`), else the configured default, at most the
    /// model's context, times the choices decoded; none for embeddings.
    pub completion_tokens: u64,
}

impl Estimate {
    /// The estimate of a request whose body, as sent to the model, is `body_len` bytes, and that
    /// allows `max_tokens` (else `default_completion` is expected) for each of its `choices`, on a
    /// model of `context_length` tokens, when known.
    pub fn new(
        body_len: usize,
        max_tokens: Option<u64>,
        choices: u64,
        default_completion: u64,
        context_length: Option<u32>,
    ) -> Estimate {
        let each = max_tokens.unwrap_or(default_completion);
        let each = context_length.map_or(each, |context| each.min(u64::from(context)));
        Estimate {
            prompt_tokens: prompt_estimate(body_len),
            completion_tokens: each.saturating_mul(choices.max(1)),
        }
    }
}

/// The prompt's tokens before the backend counts them: the body's length over four bounds them from
/// above for the usual tokenizers (JSON syntax included), so a reservation rarely falls short;
/// settlement corrects the rest.
pub(crate) fn prompt_estimate(body_len: usize) -> u64 {
    (body_len as u64).div_ceil(4)
}

/// Cost in micro-units for `tokens` at `micros_per_million`, rounded half up, in integers only;
/// `u64::MAX` when it would not fit.
pub(crate) fn cost(tokens: u64, micros_per_million: u64) -> u64 {
    let micros = (u128::from(tokens) * u128::from(micros_per_million) + 500_000) / 1_000_000;
    u64::try_from(micros).unwrap_or(u64::MAX)
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

    /// The review's case: 3,074,457,345,618,258,603 tokens at 6 units a million wrapped to 2
    /// micro-units, so a money budget's pre-check passed.
    #[test]
    fn huge_costs_saturate_instead_of_wrapping() {
        assert_eq!(super::cost(3_074_457_345_618_258_603, 6_000_000), u64::MAX);
        let price = super::Price {
            input_micros_per_million: 1,
            output_micros_per_million: 6_000_000,
        };
        assert_eq!(price.of(u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn the_estimate_counts_every_choice_within_the_context() {
        let estimate =
            |max, choices, context| super::Estimate::new(400, max, choices, 256, context);
        assert_eq!(estimate(Some(50), 4, None).completion_tokens, 200);
        assert_eq!(
            estimate(None, 2, Some(100)).completion_tokens,
            200,
            "default capped"
        );
        assert_eq!(estimate(None, 1, None).completion_tokens, 256);
        assert_eq!(
            estimate(Some(u64::MAX), 128, None).completion_tokens,
            u64::MAX
        );
        assert_eq!(estimate(None, 1, None).prompt_tokens, 100);
    }
}
