//! `ARCHITECTURE.md` stays true: every file and folder its text names in
//! backticks exists in the tree. A name is looked for as the end of a path
//! (`batch.rs` is `src/storage/writer/batch.rs`), so the map may name files
//! relative to the folder it is describing. And the layers below the
//! transports stay free of GraphQL, as the map says.

use std::path::{Path, PathBuf};

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.push(path.clone());
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// The backticked names in `text` that look like a file or a folder.
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| !name.contains(' ') && !name.contains("://") && !name.starts_with('/'))
        .filter(|name| {
            let file = [
                ".rs", ".sql", ".md", ".sh", ".toml", ".graphql", ".html", ".js", ".css",
            ]
            .iter()
            .any(|extension| name.ends_with(extension));
            file || (name.ends_with('/') && name.len() > 1)
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_file_and_folder_architecture_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut tree = Vec::new();
    for top in [
        "src",
        "tests",
        "benches",
        "migrations",
        "scripts",
        "assets",
        "examples",
    ] {
        files_under(&root.join(top), &mut tree);
    }
    let tree: Vec<String> = tree
        .iter()
        .map(|path| {
            path.strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let names = named_paths(&map);
    assert!(names.len() > 40, "the map names files: {names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            let name = name.trim_end_matches('/');
            !root.join(name).exists()
                && !tree
                    .iter()
                    .any(|path| path == name || path.ends_with(&format!("/{name}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what is not in the tree: {missing:?}"
    );
}

#[test]
fn the_layers_below_the_transports_never_name_async_graphql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for layer in ["src/wire", "src/domain", "src/storage"] {
        files_under(&root.join(layer), &mut files);
    }
    let naming: Vec<PathBuf> = files
        .into_iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .filter(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .contains("async_graphql")
        })
        .collect();
    assert!(naming.is_empty(), "these name async_graphql: {naming:?}");
}
