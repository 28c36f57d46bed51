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
