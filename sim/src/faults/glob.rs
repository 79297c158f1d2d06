//! Glob patterns of fault rules: `*` matches any run of characters (`/` included), `?` exactly
//! one; everything else matches itself.

/// Whether `text` matches `pattern` as a whole.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // The last `*` seen, and the text position it has been stretched to so far.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Whether an optional pattern accepts an optional value: no pattern accepts anything, a
/// pattern rejects a missing value.
pub(crate) fn accepts(pattern: Option<&str>, value: Option<&str>) -> bool {
    match (pattern, value) {
        (None, _) => true,
        (Some(pattern), Some(value)) => matches(pattern, value),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{accepts, matches};

    #[test]
    fn literals_match_only_themselves() {
        assert!(matches("nginx", "nginx"));
        assert!(!matches("nginx", "nginx2"));
        assert!(!matches("nginx", "ngin"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn star_matches_any_run_including_slashes() {
        assert!(matches("*nginx*", "docker.io/library/nginx:1.27"));
        assert!(matches("*nginx*", "nginx"));
        assert!(!matches("*nginx*", "docker.io/library/redis:7"));
        assert!(matches("app*", "app"));
        assert!(matches("app*", "app-frontend"));
        assert!(!matches("app*", "webapp"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "a-x-b-y-b-c"));
        assert!(!matches("a*b*c", "a-x-b-y-c-b"));
        assert!(matches("**a", "bba"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(matches("batch-?", "batch-1"));
        assert!(matches("batch-?", "batch-é"));
        assert!(!matches("batch-?", "batch-"));
        assert!(!matches("batch-?", "batch-12"));
        assert!(matches("?*", "x"));
        assert!(!matches("?*", ""));
    }

    #[test]
    fn missing_values_only_pass_when_there_is_no_pattern() {
        assert!(accepts(None, None));
        assert!(accepts(None, Some("x")));
        assert!(!accepts(Some("*"), None));
        assert!(accepts(Some("*"), Some("")));
    }
}
