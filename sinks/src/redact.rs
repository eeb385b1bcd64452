//! Redaction of credentials in text that leaves the process: a password in a URL's userinfo
//! (`http://admin:secret@host` → `http://admin:***@host`, a lone token `https://tok@host` →
//! `https://***@host`) and the values of credential-bearing query parameters
//! (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, `password`, `token`,
//! `api_key`, `secret`, `signature`, …). Applied to logs, dead-letter error messages, config
//! problems, summaries and metrics — wherever a URL can be shown or written.

use std::borrow::Cow;

/// What stands in for a removed secret.
pub const MASK: &str = "***";

/// Query parameters whose values are credentials (compared without case).
const SECRET_PARAMETERS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "client_secret",
    "key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "sig",
    "signature",
    "token",
];

/// `text` with every credential in it masked; borrowed when there is none.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("://") && !text.contains('=') {
        return Cow::Borrowed(text);
    }
    let masked = mask_parameters(&mask_userinfo(text));
    if masked == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(masked)
    }
}

/// Characters that end a URL's authority (or a parameter value) in free text.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || "/?#\"'<>`,;)]}".contains(c)
}

fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(ends_token).unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(sign) => {
                let userinfo = &authority[..sign];
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    None => out.push_str(MASK),
                }
                out.push_str(&authority[sign..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn mask_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[name_start..];
        let secret = SECRET_PARAMETERS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name));
        out.push_str(before);
        out.push('=');
        let value = &after[1..];
        if secret {
            let end = value
                .find(|c: char| c == '&' || ends_token(c))
                .unwrap_or(value.len());
            if end > 0 {
                out.push_str(MASK);
            }
            rest = &value[end..];
        } else {
            rest = value;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_tokens_and_signatures_are_masked_and_the_rest_kept() {
        let table = [
            ("http://admin:s3cret@host:9200/_bulk", "http://admin:***@host:9200/_bulk"),
            ("https://tok3n@example.com", "https://***@example.com"),
            (
                "error sending request for url (http://u:p@10.0.0.1:9200/): refused",
                "error sending request for url (http://u:***@10.0.0.1:9200/): refused",
            ),
            (
                "GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abcd&x=1",
                "GET https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&x=1",
            ),
            ("endpoint=http://h/?password=hunter2 next", "endpoint=http://h/?password=*** next"),
            ("api_key=abc, token=xyz", "api_key=***, token=***"),
            ("plain text with no secrets", "plain text with no secrets"),
            ("monkey=banana keyword=x", "monkey=banana keyword=x"),
            ("mailto:someone@example.com", "mailto:someone@example.com"),
        ];
        for (text, want) in table {
            assert_eq!(redact(text), want, "{text}");
        }
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }
}
