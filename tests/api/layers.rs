//! The shape of the house (docs/architecture.md): `web` over `app` over `db` over `domain`.
//! A module may name its own layer and those below, never one above; nothing below `web`
//! names a web crate, and the domain uses Diesel only in derive attributes. Read from the source text (every `crate::` path and crate name outside
//! test modules), so a new import that breaks the shape fails here, not in review.

use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["domain", "db", "app", "web"];
/// askama is not one: it renders the web's pages and the app's mail (`app::mail`) alike.
const WEB_CRATES: [&str; 5] = [
    "actix_web",
    "actix_session",
    "actix_identity",
    "actix_http",
    "actix_router",
];

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == name)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's text up to its test module: tests may use anything.
fn non_test_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// `code` with every `#[...]` attribute (across lines too) cut out.
fn without_attributes(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut depth = 0usize;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if depth == 0 && c == '#' && chars.peek() == Some(&'[') {
            chars.next();
            depth = 1;
        } else if depth > 0 {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The layers named by `crate::<layer>` paths in `code`, with the line they stand on.
fn named_layers(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for line in code.lines() {
        let code_part = line.split("//").next().unwrap_or("");
        let mut rest = code_part;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(layer) = layer_of(&name) {
                found.push((layer, line.trim().to_owned()));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn each_layer_names_only_itself_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = [0usize; 4];
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let Some(own) = layer_of(top.trim_end_matches(".rs")) else {
            continue; // lib.rs, main.rs, cli.rs: the entry points above every layer
        };
        seen[own] += 1;
        let code = non_test_code(file);
        for (layer, line) in named_layers(&code) {
            if layer > own {
                wrong.push(format!(
                    "{}: names {}: {line}",
                    relative.display(),
                    LAYERS[layer]
                ));
            }
        }
        // The domain derives Diesel's markers on its stored enums (Rust wants them on the
        // definition); how they are written and read is storage's, in `db/types.rs`.
        if own == 0 {
            for line in without_attributes(&code).lines().map(str::trim) {
                if line.contains("diesel") && !line.starts_with("//") {
                    wrong.push(format!(
                        "{}: domain uses diesel: {line}",
                        relative.display()
                    ));
                }
            }
        }
        if own < 3 {
            for krate in WEB_CRATES {
                if code.contains(&format!("{krate}::")) {
                    wrong.push(format!("{}: below web, names {krate}", relative.display()));
                }
            }
        }
    }
    assert!(
        seen.iter().all(|n| *n > 0),
        "every layer has files: {seen:?}"
    );
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let code = "use crate::db::sessions;\nuse crate::web::startup::AppState; // here\n";
    let named = named_layers(code);
    assert_eq!(named.len(), 2);
    assert_eq!(named[1].0, 3);
    assert!(named_layers("// crate::web in a comment\n").is_empty());
    let derived = "#[derive(\n    Clone,\n    diesel::expression::AsExpression,\n)]\npub struct Id;\nuse diesel::x;";
    assert_eq!(
        without_attributes(derived).trim(),
        "pub struct Id;\nuse diesel::x;"
    );
}
