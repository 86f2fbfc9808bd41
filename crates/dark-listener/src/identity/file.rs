//! The identity file's JSON layout: which fields are read, what types they must have, the
//! controller URLs, and where each `id.*` value's PEM text comes from (inline, `file:` or a
//! path resolved against the identity's directory), read with a size limit.

use super::pem::build;
use super::*;

/// Error context: which file, and where relative paths start.
pub(super) struct Context<'a> {
    pub(super) file: &'a str,
    pub(super) dir: &'a Path,
}

/// PEM text of one `id.*` field and where it came from (for messages).
pub(super) struct Material {
    pub(super) text: String,
    pub(super) origin: String,
}

pub(super) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn parse(bytes: &[u8], file: &str, dir: &Path) -> Result<Identity, IdentityError> {
    let ctx = Context { file, dir };
    let root: Value = serde_json::from_slice(bytes).map_err(|e| IdentityError::NotJson {
        file: file.to_owned(),
        detail: e.to_string(),
    })?;
    let Value::Object(top) = &root else {
        return Err(IdentityError::WrongType {
            file: file.to_owned(),
            field: "(top level)".to_owned(),
            expected: "a JSON object",
            found: json_type(&root),
        });
    };

    let zt_api = match top.get("ztAPI") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            check_url(&ctx, "ztAPI", s)?;
            Some(s.clone())
        }
        Some(other) => return Err(wrong_type(&ctx, "ztAPI", "a URL string", other)),
    };
    let zt_apis = string_list(&ctx, top.get("ztAPIs"), "ztAPIs")?.unwrap_or_default();
    for (i, url) in zt_apis.iter().enumerate() {
        check_url(&ctx, &format!("ztAPIs[{i}]"), url)?;
    }
    if zt_api.is_none() && zt_apis.is_empty() {
        return Err(IdentityError::NoControllerUrl {
            file: file.to_owned(),
        });
    }
    let config_types = string_list(&ctx, top.get("configTypes"), "configTypes")?;

    let id = match top.get("id") {
        None | Some(Value::Null) => {
            return Err(IdentityError::MissingField {
                file: file.to_owned(),
                field: "id".to_owned(),
                expected: "an object with cert, key and ca",
            })
        }
        Some(Value::Object(id)) => id,
        Some(other) => {
            return Err(wrong_type(
                &ctx,
                "id",
                "an object with cert, key and ca",
                other,
            ))
        }
    };
    let material = |name: &str, label: &'static str| -> Result<Material, IdentityError> {
        let field = format!("id.{name}");
        const EXPECTED: &str = "a string: \"pem:-----BEGIN …\", \"file:///path\" or a path";
        match id.get(name) {
            None | Some(Value::Null) => Err(IdentityError::MissingField {
                file: file.to_owned(),
                field,
                expected: EXPECTED,
            }),
            Some(Value::String(s)) => resolve(&ctx, &field, label, s),
            Some(other) => Err(wrong_type(&ctx, &field, EXPECTED, other)),
        }
    };
    let cert = material("cert", "CERTIFICATE")?;
    let key = material("key", "EC PRIVATE KEY")?;
    let ca = material("ca", "CERTIFICATE")?;
    build(&ctx, zt_api, zt_apis, config_types, [cert, key, ca])
}

pub(super) fn wrong_type(
    ctx: &Context<'_>,
    field: &str,
    expected: &'static str,
    v: &Value,
) -> IdentityError {
    IdentityError::WrongType {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        expected,
        found: json_type(v),
    }
}

pub(super) fn string_list(
    ctx: &Context<'_>,
    v: Option<&Value>,
    field: &str,
) -> Result<Option<Vec<String>>, IdentityError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(ctx, &format!("{field}[{i}]"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(wrong_type(ctx, field, "an array of strings or null", other)),
    }
}

pub(super) fn check_url(ctx: &Context<'_>, field: &str, url: &str) -> Result<(), IdentityError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let authority = r.split(['/', '?', '#']).next().unwrap_or_default();
        !authority.is_empty()
            && !authority.starts_with(':')
            && !authority.contains(char::is_whitespace)
    });
    if host_ok {
        Ok(())
    } else {
        Err(IdentityError::BadUrl {
            file: ctx.file.to_owned(),
            field: field.to_owned(),
            value: url.to_owned(),
        })
    }
}

/// Turns one `id.*` value into PEM text, reading a referenced file when needed.
pub(super) fn resolve(
    ctx: &Context<'_>,
    field: &str,
    label: &'static str,
    value: &str,
) -> Result<Material, IdentityError> {
    let not_pem = |origin: String| IdentityError::NotPem {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        label,
        origin,
    };
    if let Some(inline) = value.strip_prefix("pem:") {
        return Ok(Material {
            text: inline.trim_start().to_owned(),
            origin: String::new(),
        });
    }
    let trimmed = value.trim_start();
    if trimmed.starts_with("-----BEGIN") {
        return Ok(Material {
            text: trimmed.to_owned(),
            origin: String::new(),
        });
    }
    if value.trim().is_empty() {
        return Err(not_pem(String::new()));
    }
    let path_text = if let Some(p) = value.strip_prefix("file://") {
        p
    } else if let Some(p) = value.strip_prefix("file:") {
        p
    } else {
        let lower = value.to_ascii_lowercase();
        for scheme in ["pkcs11", "keychain", "engine"] {
            if lower.starts_with(&format!("{scheme}:")) {
                return Err(IdentityError::UnsupportedEngine {
                    file: ctx.file.to_owned(),
                    field: field.to_owned(),
                    scheme: scheme.to_owned(),
                });
            }
        }
        if let Some((scheme, _)) = value.split_once("://") {
            let is_scheme = !scheme.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if is_scheme {
                return Err(IdentityError::UnsupportedScheme {
                    file: ctx.file.to_owned(),
                    field: field.to_owned(),
                    scheme: scheme.to_owned(),
                });
            }
        }
        value
    };
    if path_text.is_empty() {
        return Err(not_pem(String::new()));
    }
    let path = Path::new(path_text);
    let path = if path.is_relative() {
        ctx.dir.join(path)
    } else {
        path.to_path_buf()
    };
    let bytes = read_limited(&path).map_err(|error| IdentityError::ReferencedFile {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        path: path.clone(),
        error,
    })?;
    let origin = format!(" (file {})", path.display());
    let text = String::from_utf8(bytes).map_err(|_| not_pem(origin.clone()))?;
    Ok(Material { text, origin })
}

/// Largest identity or referenced PEM file read (real ones are a few KiB); this also keeps
/// a value such as `/dev/zero` from reading forever.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a whole file of at most [`MAX_FILE_BYTES`].
pub(super) fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(bytes)
}
