//! Reading a catalogue's first load from CSV (`tenpo-hub catalog import`), for the feed's
//! endpoints: items `sku,jan,name_ja,name_en,price_yen,image_url,url` and stock
//! `sku,store_id,quantity`, each row with its line in the file.
//!
//! A line that cannot be a row (a field too many or too few, a price or quantity that is not a
//! whole number) is reported here with its line and not sent; the hub checks the rest (check
//! digits, URLs, negative numbers, unknown items) and reports what it refuses by the row's place
//! in its batch, which [`Batch::line_of`] turns back into the line. A batch's id comes from the
//! file's content, so importing the same file again sends the same batches, which the hub answers
//! as it did the first time.

use std::collections::HashMap;

use serde::Serialize;
use tenpo_protocol::catalog::{CatalogItem, ItemName, MAX_CATALOG_ROWS, StockLevel};

/// The columns of an items file; `jan`, `name_en`, `image_url` and `url` may be absent.
pub const ITEM_COLUMNS: [&str; 7] = [
    "sku",
    "jan",
    "name_ja",
    "name_en",
    "price_yen",
    "image_url",
    "url",
];
const ITEM_REQUIRED: [&str; 3] = ["sku", "name_ja", "price_yen"];
/// The columns of a stock file, all needed.
pub const STOCK_COLUMNS: [&str; 3] = ["sku", "store_id", "quantity"];

#[derive(Debug, thiserror::Error)]
pub enum CatalogFileError {
    #[error("the file is not CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("the header lacks the column `{column}`: expected `{expected}`")]
    MissingColumn {
        column: &'static str,
        expected: String,
    },
    #[error("the header has an unknown column `{column}`: expected `{expected}`")]
    UnknownColumn { column: String, expected: String },
    #[error("the header names the column `{0}` twice")]
    DuplicateColumn(String),
}

/// A line of the file that was not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// A file read: its rows (with their lines), the lines not sent, and the hash of its bytes.
#[derive(Debug, Clone)]
pub struct CsvFile<T> {
    pub rows: Vec<(u64, T)>,
    pub bad: Vec<BadLine>,
    /// Hex SHA-256 of the file as read: what its batches' ids are made of.
    pub content_hash: String,
}

/// A batch for the feed, and the file line of each of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<T> {
    pub batch_id: String,
    pub rows: Vec<T>,
    pub lines: Vec<u64>,
}

impl<T> Batch<T> {
    /// The file line of the row at `index` in the batch (a rejected row's place, as the hub
    /// reports it).
    pub fn line_of(&self, index: u64) -> Option<u64> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.lines.get(i))
            .copied()
    }
}

/// The rows of `file` in batches of at most `size` (1 to [`MAX_CATALOG_ROWS`]), each id made of
/// `kind`, the file's hash, the batch size and the batch's place: the same file cut the same way
/// gives the same ids, so sending it again changes nothing.
pub fn batches<T>(kind: &str, file: CsvFile<T>, size: usize) -> Vec<Batch<T>> {
    let size = size.clamp(1, MAX_CATALOG_ROWS);
    let hash = file.content_hash.get(..24).unwrap_or(&file.content_hash);
    let mut out = Vec::new();
    let mut rows = file.rows.into_iter().peekable();
    while rows.peek().is_some() {
        let (lines, rows): (Vec<u64>, Vec<T>) = rows.by_ref().take(size).unzip();
        out.push(Batch {
            batch_id: format!("csv-{kind}-{hash}-{size}-{}", out.len()),
            rows,
            lines,
        });
    }
    out
}

/// The columns a header names, by name, checked against `known` and `required`.
fn columns(
    headers: &csv::StringRecord,
    known: &[&str],
    required: &[&'static str],
) -> Result<HashMap<String, usize>, CatalogFileError> {
    let expected = known.join(",");
    let mut at = HashMap::new();
    for (i, name) in headers.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if !known.contains(&name.as_str()) {
            return Err(CatalogFileError::UnknownColumn {
                column: name,
                expected,
            });
        }
        if at.insert(name.clone(), i).is_some() {
            return Err(CatalogFileError::DuplicateColumn(name));
        }
    }
    if let Some(column) = required.iter().find(|c| !at.contains_key(**c)) {
        return Err(CatalogFileError::MissingColumn { column, expected });
    }
    Ok(at)
}

/// Reads every row of a CSV file (a UTF-8 byte-order mark is skipped) with `row`, which gets
/// a field by column name and answers the row or why the line cannot be one.
fn read<T>(
    bytes: &[u8],
    known: &[&str],
    required: &[&'static str],
    row: impl Fn(&dyn Fn(&str) -> String) -> Result<T, String>,
) -> Result<CsvFile<T>, CatalogFileError> {
    let content_hash = tenpo_protocol::events::content_hash_of(bytes);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader.headers()?.clone();
    let at = columns(&headers, known, required)?;
    let mut file = CsvFile {
        rows: Vec::new(),
        bad: Vec::new(),
        content_hash,
    };
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
        if record.len() != headers.len() {
            file.bad.push(BadLine {
                line,
                reason: format!(
                    "{} fields where the header has {}: a comma in a name needs the field in \
                     double quotes",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        let field = |name: &str| -> String {
            at.get(name)
                .and_then(|i| record.get(*i))
                .unwrap_or_default()
                .to_owned()
        };
        match row(&field) {
            Ok(r) => file.rows.push((line, r)),
            Err(reason) => file.bad.push(BadLine { line, reason }),
        }
    }
    Ok(file)
}

fn whole_number(column: &str, text: &str) -> Result<i64, String> {
    text.parse::<i64>().map_err(|_| {
        if text.is_empty() {
            format!("{column} is empty")
        } else {
            format!("{column} {text:?} is not a whole number")
        }
    })
}

fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Reads an items file: `sku,jan,name_ja,name_en,price_yen,image_url,url`.
pub fn read_items(bytes: &[u8]) -> Result<CsvFile<CatalogItem>, CatalogFileError> {
    read(bytes, &ITEM_COLUMNS, &ITEM_REQUIRED, |field| {
        Ok(CatalogItem {
            sku: field("sku"),
            jan: optional(field("jan")),
            name: ItemName {
                ja: field("name_ja"),
                en: optional(field("name_en")),
            },
            price_yen: whole_number("price_yen", &field("price_yen"))?,
            image_url: optional(field("image_url")),
            url: optional(field("url")),
            version: None,
        })
    })
}

/// Reads a stock file: `sku,store_id,quantity`.
pub fn read_stock(bytes: &[u8]) -> Result<CsvFile<StockLevel>, CatalogFileError> {
    read(bytes, &STOCK_COLUMNS, &STOCK_COLUMNS, |field| {
        Ok(StockLevel {
            sku: field("sku"),
            store_id: field("store_id"),
            quantity: whole_number("quantity", &field("quantity"))?,
            version: None,
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ITEMS: &str = "\u{feff}sku,jan,name_ja,name_en,price_yen,image_url,url\n\
        tea,4901234567894,緑茶,Green tea,150,https://img.example.jp/tea.jpg,\n\
        \n\
        \"rice, 5kg\",,米 5kg,,2400,,https://shop.example.jp/rice\n\
        cake,,ケーキ,,abc,,\n\
        bun,,パン,,120\n\
        milk,,牛乳,,-5,,\n";

    #[test]
    fn items_with_their_lines_and_the_lines_not_sent() {
        let f = read_items(ITEMS.as_bytes()).unwrap();
        let lines: Vec<u64> = f.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 4, 7]);
        let (_, tea) = &f.rows[0];
        assert_eq!(tea.jan.as_deref(), Some("4901234567894"));
        assert_eq!(tea.name.en.as_deref(), Some("Green tea"));
        assert_eq!((tea.price_yen, tea.url.as_deref()), (150, None));
        assert_eq!(f.rows[1].1.sku, "rice, 5kg");
        assert_eq!(f.rows[1].1.jan, None);
        // A negative price is a number: the hub refuses it, with the row's place.
        assert_eq!(f.rows[2].1.price_yen, -5);
        assert_eq!(f.bad.len(), 2);
        assert_eq!(f.bad[0].line, 5);
        assert!(f.bad[0].reason.contains("price_yen \"abc\""), "{:?}", f.bad);
        assert_eq!(f.bad[1].line, 6);
        assert!(f.bad[1].reason.contains("5 fields where the header has 7"));
        assert_eq!(f.content_hash.len(), 64);
    }

    #[test]
    fn only_the_needed_columns_are_needed_and_unknown_ones_refused() {
        let f = read_items("price_yen,name_ja,sku\n100,水,water\n".as_bytes()).unwrap();
        assert_eq!(f.rows[0].1.sku, "water");
        assert_eq!(f.rows[0].1.jan, None);
        let err = |text: &str| read_items(text.as_bytes()).unwrap_err().to_string();
        assert!(err("sku,name_ja\n").contains("lacks the column `price_yen`"));
        assert!(err("sku,name_ja,price_yen,colour\n").contains("unknown column `colour`"));
        assert!(err("sku,sku,name_ja,price_yen\n").contains("twice"));
        let stock = read_stock(b"sku,store_id,quantity\ntea,shibuya,3\ntea,ginza,lots\n").unwrap();
        assert_eq!(stock.rows.len(), 1);
        assert_eq!((stock.bad[0].line, stock.rows[0].1.quantity), (3, 3));
        assert!(
            read_stock(b"sku,quantity\n")
                .unwrap_err()
                .to_string()
                .contains("store_id")
        );
    }

    #[test]
    fn batches_keep_each_rows_line_and_their_ids_follow_the_content() {
        let text = "sku,store_id,quantity\n".to_owned()
            + &(0..5)
                .map(|i| format!("s{i},shibuya,{i}\n"))
                .collect::<String>();
        let cut = |text: &str, size| batches("stock", read_stock(text.as_bytes()).unwrap(), size);
        let b = cut(&text, 2);
        assert_eq!(b.len(), 3);
        assert_eq!(b[2].rows.len(), 1);
        assert_eq!(b[1].lines, [4, 5]);
        assert_eq!(b[1].line_of(1), Some(5));
        assert_eq!(b[1].line_of(2), None);
        assert!(b[0].batch_id.starts_with("csv-stock-") && b[0].batch_id.ends_with("-2-0"));
        assert!(b.iter().all(|b| b.batch_id.len() <= 64));
        // The same file, the same ids; other content or another cut, other ids.
        assert_eq!(cut(&text, 2)[1].batch_id, b[1].batch_id);
        assert_ne!(cut(&text.replace(",4", ",9"), 2)[0].batch_id, b[0].batch_id);
        assert_ne!(cut(&text, 3)[0].batch_id, b[0].batch_id);
        assert!(cut("sku,store_id,quantity\n", 2).is_empty());
    }
}
