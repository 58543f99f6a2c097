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

/// One CSV line, its cells quoted and neutralised, ending in CRLF.
pub fn line(cells: impl IntoIterator<Item = String>) -> String {
    let mut l = cells
        .into_iter()
        .map(|c| cell(&c))
        .collect::<Vec<_>>()
        .join(",");
    l.push_str("\r\n");
    l
}

/// A CSV attachment whose body arrives in pieces (an export of any size).
pub fn streamed<S>(filename: &str, body: S) -> HttpResponse
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::Error>> + 'static,
{
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body)
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
        assert_eq!(line(["1".into(), "x,y".into()]), "\"1\",\"x,y\"\r\n");
    }
}
