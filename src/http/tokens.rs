//! Checking a presented secret against the configured ones.

/// True when no tokens are configured (open service) or `presented` equals
/// one of them. Compared in constant time, so timing reveals nothing.
pub fn token_allowed(configured: &[String], presented: Option<&str>) -> bool {
    if configured.is_empty() {
        return true;
    }
    let Some(presented) = presented else {
        return false;
    };
    configured.iter().fold(false, |found, token| {
        found | constant_time_eq::constant_time_eq(token.as_bytes(), presented.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_token_opens_and_nothing_else_does() {
        let tokens = vec!["old".to_owned(), "new".to_owned()];
        assert!(token_allowed(&tokens, Some("old")));
        assert!(token_allowed(&tokens, Some("new")));
        assert!(!token_allowed(&tokens, Some("ne")));
        assert!(!token_allowed(&tokens, None));
        assert!(token_allowed(&[], None));
    }
}
