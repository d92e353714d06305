//! Reading a member import file: CSV with the header
//! `card_code,points,qualifying_spend_yen,birthday` (birthday optional, `YYYY-MM-DD`).
//!
//! Rows whose numbers cannot be read are reported here with their line; the hub checks the
//! rest (check digit, duplicates, negative values) and reports what it refuses.

use std::collections::HashMap;

use crate::admin::{ImportRow, RowRejection};

/// The columns, by name; `birthday` may be absent.
pub const COLUMNS: [&str; 4] = ["card_code", "points", "qualifying_spend_yen", "birthday"];

#[derive(Debug, thiserror::Error)]
pub enum ImportFileError {
    #[error("the file is not CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error(
        "the header lacks the column `{0}`: expected `card_code,points,qualifying_spend_yen,birthday`"
    )]
    MissingColumn(&'static str),
    #[error("the header has an unknown column `{0}`")]
    UnknownColumn(String),
}

/// A parsed import file.
#[derive(Debug, Default)]
pub struct ImportFile {
    pub rows: Vec<ImportRow>,
    /// Rows refused while reading (not sent to the hub).
    pub rejected: Vec<RowRejection>,
}

fn whole_number(field: &str, text: &str) -> Result<i64, String> {
    let t = text.trim();
    t.parse::<i64>().map_err(|_| {
        if t.is_empty() {
            format!("{field} is empty")
        } else {
            format!("{field} {t:?} is not a whole number")
        }
    })
}

/// Reads an import file's bytes (a UTF-8 byte-order mark is skipped).
pub fn read(bytes: &[u8]) -> Result<ImportFile, ImportFileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader.headers()?.clone();
    let mut at = HashMap::new();
    for (i, name) in headers.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if !COLUMNS.contains(&name.as_str()) {
            return Err(ImportFileError::UnknownColumn(name));
        }
        at.insert(name, i);
    }
    for required in &COLUMNS[..3] {
        if !at.contains_key(*required) {
            return Err(ImportFileError::MissingColumn(required));
        }
    }
    let col = |record: &csv::StringRecord, name: &str| -> String {
        at.get(name)
            .and_then(|i| record.get(*i))
            .unwrap_or_default()
            .to_owned()
    };
    let mut file = ImportFile::default();
    // Line numbers from byte offsets: the CSV reader does not count the blank lines it skips.
    let (mut counted_to, mut line) = (0usize, 1u64);
    for record in reader.records() {
        let record = record?;
        let mut offset = record
            .position()
            .map_or(counted_to, |p| {
                usize::try_from(p.byte()).unwrap_or(counted_to)
            })
            .clamp(counted_to, bytes.len());
        // A record's position may be the start of the blank lines skipped before it.
        while offset < bytes.len() && matches!(bytes[offset], b'\n' | b'\r') {
            offset += 1;
        }
        line += bytes[counted_to..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = offset;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let card_code = col(&record, "card_code");
        let parsed = whole_number("points", &col(&record, "points")).and_then(|points| {
            whole_number(
                "qualifying_spend_yen",
                &col(&record, "qualifying_spend_yen"),
            )
            .map(|spend| (points, spend))
        });
        match parsed {
            Ok((points, qualifying_spend_yen)) => {
                let birthday = col(&record, "birthday");
                file.rows.push(ImportRow {
                    line,
                    card_code,
                    points,
                    qualifying_spend_yen,
                    birthday: (!birthday.is_empty()).then_some(birthday),
                });
            }
            Err(reason) => file.rejected.push(RowRejection {
                line,
                card_code,
                reason,
            }),
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_rows_with_line_numbers() {
        let text = "\u{feff}card_code,points,qualifying_spend_yen,birthday\n\
                    2000000000015,100,5000,1990-05-01\n\
                    \n\
                    2000000000022,abc,0,\n\
                    2000000000039, 7 ,0\n";
        let f = read(text.as_bytes()).unwrap();
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[0].line, 2);
        assert_eq!(f.rows[0].birthday.as_deref(), Some("1990-05-01"));
        assert_eq!(f.rows[1].points, 7);
        assert_eq!(f.rows[1].line, 5);
        assert_eq!(f.rejected.len(), 1);
        assert_eq!(f.rejected[0].line, 4);
        assert!(f.rejected[0].reason.contains("points"));
    }

    #[test]
    fn refuses_a_bad_header() {
        assert!(matches!(
            read(b"code,points\n"),
            Err(ImportFileError::UnknownColumn(_))
        ));
        assert!(matches!(
            read(b"card_code,points\n"),
            Err(ImportFileError::MissingColumn("qualifying_spend_yen"))
        ));
    }
}
