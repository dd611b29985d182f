//! The one retry policy every handler kind shares: exponential backoff with jitter, capped,
//! honouring a handler's `Retry-After`.

use std::time::Duration;

use rand::Rng;

use super::{ActionKind, RetryConf};

/// A resolved retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial_interval: Duration,
    pub max_interval: Duration,
    pub multiplier: f64,
    /// Fraction of each interval randomised away (0 = none, 1 = "full jitter").
    pub jitter: f64,
}

impl RetryPolicy {
    /// The defaults of an action kind: one attempt for synchronous actions (a caller is
    /// waiting), five for asynchronous ones.
    pub fn default_for(kind: ActionKind) -> Self {
        match kind {
            ActionKind::Synchronous => Self {
                max_attempts: 1,
                initial_interval: Duration::from_millis(100),
                max_interval: Duration::from_secs(2),
                multiplier: 2.0,
                jitter: 0.2,
            },
            ActionKind::Asynchronous => Self {
                max_attempts: 5,
                initial_interval: Duration::from_secs(1),
                max_interval: Duration::from_secs(300),
                multiplier: 2.0,
                jitter: 0.2,
            },
        }
    }

    /// The action's policy: its `retry` settings over the defaults of its kind.
    pub fn resolve(kind: ActionKind, conf: Option<&RetryConf>) -> Result<Self, String> {
        let mut policy = Self::default_for(kind);
        let Some(conf) = conf else { return Ok(policy) };
        if let Some(max_attempts) = conf.max_attempts {
            policy.max_attempts = max_attempts;
        }
        if let Some(ms) = conf.initial_interval_ms {
            policy.initial_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = conf.max_interval_ms {
            policy.max_interval = Duration::from_millis(ms);
        }
        if let Some(multiplier) = conf.multiplier {
            policy.multiplier = multiplier;
        }
        if let Some(jitter) = conf.jitter {
            policy.jitter = jitter;
        }
        policy.check()?;
        Ok(policy)
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err("max_attempts must be between 1 and 100".into());
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err("multiplier must be a number of at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err("jitter must be between 0 and 1".into());
        }
        if self.initial_interval > self.max_interval {
            return Err("initial_interval_ms must not exceed max_interval_ms".into());
        }
        Ok(())
    }

    /// Whether another attempt may follow attempt number `attempt` (1-based).
    pub fn allows_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// How long to wait after failed attempt `attempt` (1-based). A handler's `Retry-After`
    /// wins when it asks for longer than the backoff would, capped by `max_interval`.
    pub fn delay_after(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let base = self.initial_interval.as_secs_f64() * self.multiplier.powi(exponent);
        let capped = base.min(self.max_interval.as_secs_f64());
        let jittered = capped * (1.0 - self.jitter * rand::rng().random::<f64>());
        let backoff = Duration::from_secs_f64(jittered.max(0.0));
        match retry_after {
            Some(asked) if asked > backoff => asked.min(self.max_interval),
            _ => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = policy(0.0);
        let delays: Vec<_> = (1..=6)
            .map(|n| p.delay_after(n, None).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let p = policy(0.5);
        for _ in 0..200 {
            let d = p.delay_after(2, None).as_millis();
            assert!((100..=200).contains(&d), "{d}");
        }
    }

    #[test]
    fn retry_after_wins_when_longer_but_is_capped() {
        let p = policy(0.0);
        assert_eq!(
            p.delay_after(1, Some(Duration::from_millis(700)))
                .as_millis(),
            700
        );
        assert_eq!(
            p.delay_after(1, Some(Duration::from_secs(60))).as_millis(),
            1000
        );
        assert_eq!(
            p.delay_after(3, Some(Duration::from_millis(10)))
                .as_millis(),
            400
        );
    }

    #[test]
    fn rejects_nonsense_settings() {
        let conf = |c: RetryConf| RetryPolicy::resolve(ActionKind::Synchronous, Some(&c));
        assert!(
            conf(RetryConf {
                max_attempts: Some(0),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            conf(RetryConf {
                multiplier: Some(0.5),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            conf(RetryConf {
                jitter: Some(1.5),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            conf(RetryConf {
                max_attempts: Some(3),
                ..Default::default()
            })
            .is_ok()
        );
    }
}
