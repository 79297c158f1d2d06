//! Credentials for a pull: from the request (kubelet's `AuthConfig`), or else from a
//! containers-auth.json(5) file.
//!
//! Bearer-token challenges and Basic auth are handled by the registry client: Basic
//! credentials are sent to a token realm when the registry asks for a bearer token, or to the
//! registry itself when it asks for Basic auth; a `registry_token` is sent as the bearer token
//! directly.

use super::RegistryAuth;
use super::failure::Failure;
use crate::error::ErrorKind;
use base64::Engine;
use oci_client::secrets::RegistryAuth as ClientAuth;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The user name registries (Azure, Docker's credential helpers) expect with an identity token.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// Credentials from the request. `Ok(None)` when it carries none.
pub fn from_request(auth: &RegistryAuth) -> Result<Option<ClientAuth>, Failure> {
    if !auth.registry_token.is_empty() {
        return Ok(Some(ClientAuth::Bearer(auth.registry_token.clone())));
    }
    if !auth.username.is_empty() || !auth.password.is_empty() {
        return Ok(Some(ClientAuth::Basic(
            auth.username.clone(),
            auth.password.clone(),
        )));
    }
    if !auth.auth.is_empty() {
        let (user, password) = decode_auth(&auth.auth)
            .map_err(|m| Failure::Other(ErrorKind::InvalidArgument, format!("auth.auth: {m}")))?;
        return Ok(Some(ClientAuth::Basic(user, password)));
    }
    if !auth.identity_token.is_empty() {
        let user = if auth.username.is_empty() {
            IDENTITY_TOKEN_USER
        } else {
            &auth.username
        };
        return Ok(Some(ClientAuth::Basic(
            user.to_string(),
            auth.identity_token.clone(),
        )));
    }
    Ok(None)
}

/// `user:password` from base64.
fn decode_auth(text: &str) -> Result<(String, String), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 once decoded".to_string())?;
    let (user, password) = text
        .split_once(':')
        .ok_or("decoded value is not user:password")?;
    Ok((user.to_string(), password.to_string()))
}

#[derive(Debug, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    identitytoken: String,
}

/// The credentials `file` (containers-auth.json) holds for `repo` (`host/path`): the entry
/// with the longest matching `host[/path]` key. A missing file means none.
pub fn from_file(file: &Path, repo: &str) -> Result<Option<ClientAuth>, Failure> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::local(format!(
                "reading auth file {}: {e}",
                file.display()
            )));
        }
    };
    let parsed: AuthFile = serde_json::from_str(&text).map_err(|e| {
        Failure::Other(
            ErrorKind::InvalidArgument,
            format!("auth file {}: {e}", file.display()),
        )
    })?;
    let host = repo.split('/').next().unwrap_or(repo);
    let mut best: Option<(usize, &AuthEntry)> = None;
    for (key, entry) in &parsed.auths {
        let key = normalise_key(key);
        let matches = repo == key
            || (repo.starts_with(&key) && repo[key.len()..].starts_with('/'))
            || key == host;
        if matches && best.is_none_or(|(len, _)| key.len() > len) {
            best = Some((key.len(), entry));
        }
    }
    let Some((_, entry)) = best else {
        return Ok(None);
    };
    if !entry.identitytoken.is_empty() {
        return Ok(Some(ClientAuth::Basic(
            IDENTITY_TOKEN_USER.to_string(),
            entry.identitytoken.clone(),
        )));
    }
    let (user, password) = decode_auth(&entry.auth).map_err(|m| {
        Failure::Other(
            ErrorKind::InvalidArgument,
            format!("auth file {}: auths.{repo}.auth: {m}", file.display()),
        )
    })?;
    Ok(Some(ClientAuth::Basic(user, password)))
}

/// Docker's legacy keys: `https://index.docker.io/v1/` means docker.io.
fn normalise_key(key: &str) -> String {
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let key = key.trim_end_matches('/');
    let key = key
        .strip_suffix("/v1")
        .or_else(|| key.strip_suffix("/v2"))
        .unwrap_or(key);
    match key {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_credentials_in_order() {
        let auth = RegistryAuth {
            auth: base64::engine::general_purpose::STANDARD.encode("u:p:x"),
            ..Default::default()
        };
        assert_eq!(
            from_request(&auth).unwrap(),
            Some(ClientAuth::Basic("u".into(), "p:x".into()))
        );
        let bearer = RegistryAuth {
            registry_token: "t".into(),
            username: "u".into(),
            ..Default::default()
        };
        assert_eq!(
            from_request(&bearer).unwrap(),
            Some(ClientAuth::Bearer("t".into()))
        );
        assert_eq!(from_request(&RegistryAuth::default()).unwrap(), None);
    }

    #[test]
    fn auth_file_longest_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &file,
            format!(
                r#"{{"auths":{{"h:5000":{{"auth":"{}"}},"h:5000/team":{{"auth":"{}"}},"https://index.docker.io/v1/":{{"auth":"{}"}}}}}}"#,
                enc("a:1"),
                enc("b:2"),
                enc("d:3")
            ),
        )
        .unwrap();
        assert_eq!(
            from_file(&file, "h:5000/team/x").unwrap(),
            Some(ClientAuth::Basic("b".into(), "2".into()))
        );
        assert_eq!(
            from_file(&file, "h:5000/other").unwrap(),
            Some(ClientAuth::Basic("a".into(), "1".into()))
        );
        assert_eq!(
            from_file(&file, "docker.io/library/busybox").unwrap(),
            Some(ClientAuth::Basic("d".into(), "3".into()))
        );
        assert_eq!(from_file(&file, "elsewhere/x").unwrap(), None);
    }
}
