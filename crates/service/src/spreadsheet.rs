//! CSV cells that a spreadsheet opens as text, never as a formula.
//!
//! Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` (and
//! some with a leading tab or carriage return) as a formula, so an annotator's rationale such
//! as `=HYPERLINK("http://…")` would become a live link in a researcher's export. Such a cell
//! gets a leading `'`, which spreadsheets read as "text follows" (OWASP's advice on CSV
//! injection). Numbers, negative ones included, stay as they are: they cannot be formulas.

use std::borrow::Cow;

/// The cell as a spreadsheet should show it (see the module docs).
#[must_use]
pub fn safe_cell(cell: &str) -> Cow<'_, str> {
    let risky = cell
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    if risky && cell.parse::<f64>().is_err() {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A whole CSV document with every cell passed through [`safe_cell`].
///
/// # Errors
/// When `csv` is not readable CSV.
pub fn safe_document(csv: &[u8]) -> Result<Vec<u8>, csv::Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(csv.len()));
    for record in reader.records() {
        let record = record?;
        writer.write_record(record.iter().map(|cell| safe_cell(cell).into_owned()))?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_numbers_stay() {
        assert_eq!(
            safe_cell("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(safe_cell("+1+1"), "'+1+1");
        assert_eq!(safe_cell("-2+3"), "'-2+3");
        assert_eq!(safe_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_cell("\t=1"), "'\t=1");
        assert_eq!(safe_cell("-12.5"), "-12.5");
        assert_eq!(safe_cell("1e-3"), "1e-3");
        assert_eq!(safe_cell("a = b"), "a = b");
        assert_eq!(safe_cell(""), "");
    }

    #[test]
    fn a_document_keeps_its_shape() {
        let doc =
            b"model,rationale,score\nalpha,\"=HYPERLINK(\"\"x\"\")\",-1.5\nbeta,\"ok, fine\",2\n";
        let safe = String::from_utf8(safe_document(doc).unwrap()).unwrap();
        assert_eq!(
            safe,
            "model,rationale,score\nalpha,\"'=HYPERLINK(\"\"x\"\")\",-1.5\nbeta,\"ok, fine\",2\n"
        );
    }
}
