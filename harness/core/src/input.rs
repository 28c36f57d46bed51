//! Input files (scenarios, search corpora): every error names the file, the
//! line and column, and the field.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}:{column}: {field}: {message}")]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// The text of an input file read as `bytes`. Input files must be UTF-8; the
/// error names the line and column of the first byte that is not, and shows it.
pub fn decode<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, FileError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        // Everything before the bad byte is valid, so lines and columns count in it.
        let valid = std::str::from_utf8(&bytes[..offset]).expect("valid up to here");
        let bad: Vec<String> = bytes[offset..]
            .iter()
            .take(error.error_len().unwrap_or(bytes.len() - offset).max(1))
            .map(|byte| format!("0x{byte:02x}"))
            .collect();
        error_at(
            valid,
            file,
            offset,
            "(encoding)",
            format!(
                "byte {offset} ({}) is not UTF-8; input files must be UTF-8 (re-save the file as UTF-8)",
                bad.join(" ")
            ),
        )
    })
}

/// An error at byte `offset` of `text`.
pub fn error_at(text: &str, file: &str, offset: usize, field: &str, message: String) -> FileError {
    let (line, column) = line_and_column(text, offset);
    FileError {
        file: file.to_owned(),
        line,
        column,
        field: field.to_owned(),
        message,
    }
}

/// Deserializes TOML; a syntax or shape error names the key serde or the
/// offending line points at.
pub fn from_toml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, FileError> {
    toml::from_str(text).map_err(|err| {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().to_owned();
        // serde names an unknown or missing key in its message; otherwise the
        // key is the one on the line the error points at.
        let start = span.start.min(text.len());
        let line_text = text[..start]
            .rsplit('\n')
            .next()
            .unwrap_or_default()
            .to_owned()
            + text[start..].split('\n').next().unwrap_or_default();
        let field = message
            .split('`')
            .nth(1)
            .map(str::to_owned)
            .or_else(|| {
                line_text
                    .split_once('=')
                    .map(|(key, _)| key.trim().to_owned())
            })
            .unwrap_or_else(|| "(file)".to_owned());
        error_at(text, file, span.start, &field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_named_by_line_column_and_byte() {
        let bytes = b"name = \"x\"\nseed = 1\ndescription = \"caf\xe9\"\n";
        let error = decode(bytes, "scenarios/latin1.toml").unwrap_err();
        assert_eq!((error.line, error.column), (3, 19), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("scenarios/latin1.toml:3:19: (encoding): byte 38 (0xe9)"),
            "{error}"
        );
        assert_eq!(decode("caf\u{e9}".as_bytes(), "f").unwrap(), "caf\u{e9}");
        // A sequence cut off at the end of the file.
        let error = decode(b"ok \xe2\x82", "f").unwrap_err();
        assert!(error.message.contains("0xe2 0x82"), "{error}");
    }
}
