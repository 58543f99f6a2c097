//! CSV exports (SPEC §11): every cell quoted, and cells a spreadsheet would run as a formula
//! neutralised with a leading `'`.

use actix_web::http::header;
use actix_web::HttpResponse;

pub fn cell(raw: &str) -> String {
    let neutral = match raw.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{raw}"),
        _ => raw.to_owned(),
    };
    format!("\"{}\"", neutral.replace('"', "\"\""))
}

pub fn document(header_row: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>| {
        let mut l = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
        l.push_str("\r\n");
        l
    };
    out.push_str(&line(header_row.iter().map(|s| s.to_string()).collect()));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

pub fn attachment(filename: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(cell(lead).starts_with("\"'"), "{lead:?}");
        }
        assert_eq!(cell(""), "\"\"");
        let doc = document(&["a", "b"], vec![vec!["1".into(), "x,y".into()]]);
        assert_eq!(doc, "\"a\",\"b\"\r\n\"1\",\"x,y\"\r\n");
    }
}
