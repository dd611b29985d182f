//! How long an answer may be kept (RFC 9111): `Cache-Control: max-age` when it says, else
//! `Expires`, else not at all. One rule for the JWK set's HTTP headers and for the auth
//! webhook's answer, which carries the same two values as keys of its body.

use std::time::Duration;

/// The time `cache_control` and `expires` allow an answer to be kept, from now.
pub fn cache_time(cache_control: Option<&str>, expires: Option<&str>) -> Option<Duration> {
    let max_age = cache_control.and_then(|value| {
        value.split(',').find_map(|directive| {
            let (name, seconds) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| seconds.trim().parse::<u64>().ok())
                .flatten()
        })
    });
    if let Some(seconds) = max_age {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(expires?.trim()).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_wins_then_expires_then_nothing() {
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        assert_eq!(
            cache_time(Some("public, max-age=600"), Some(&later)),
            Some(Duration::from_secs(600))
        );
        let from_expires = cache_time(Some("no-transform"), Some(&later)).expect("expires");
        assert!(from_expires > Duration::from_secs(100), "{from_expires:?}");
        assert!(cache_time(None, Some(&later)).is_some());
        let past = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc2822();
        assert_eq!(cache_time(None, Some(&past)), None);
        assert_eq!(cache_time(Some("max-age=soon"), None), None);
        assert_eq!(cache_time(None, None), None);
    }
}
