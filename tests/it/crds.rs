//! Checks that `crds/` holds exactly what `portico crd` generates from the Rust types, so the
//! checked-in CRDs can never drift from the code.

use std::path::Path;

#[test]
fn checked_in_crds_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for crd in portico_api::crds() {
        let file = dir.join(portico_api::crd_file_name(&crd));
        let expected = portico_api::crd_yaml(&crd).expect("CRD renders as YAML");
        let actual = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        assert!(
            actual == expected,
            "{} is stale: run `cargo run -- crd --write-dir crds` and commit the result",
            file.display()
        );
    }
}

#[test]
fn concatenated_crd_files_equal_portico_crd_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let concatenated: String = files
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("readable CRD file"))
        .collect();
    assert_eq!(concatenated, portico_api::crds_yaml().expect("CRDs render"));
}

#[test]
fn crd_reference_doc_matches_the_schemas() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/crd-reference.md");
    let actual = std::fs::read_to_string(&path).expect("docs/crd-reference.md exists");
    assert!(
        actual == portico_api::crd_reference(),
        "docs/crd-reference.md is stale: run `cargo run -- crd --reference > docs/crd-reference.md`"
    );
}

/// Long flags and environment variables `portico <command> --help` lists.
fn documented_options(command: &str) -> Vec<String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args([command, "--help"])
        .output()
        .expect("portico runs");
    let help = String::from_utf8_lossy(&output.stdout);
    let mut options = Vec::new();
    // Option lines only (`  -x, --flag <VALUE>  ...`), not flags mentioned in prose.
    for line in help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
    {
        let flag = line
            .split([' ', ','])
            .find(|word| word.starts_with("--"))
            .unwrap_or_default();
        if flag.len() > 2 && flag != "--help" {
            options.push(format!("`{flag}`"));
        }
    }
    for part in help.split("[env: ").skip(1) {
        if let Some(name) = part.split(['=', ']']).next() {
            options.push(format!("`{name}`"));
        }
    }
    options.sort();
    options.dedup();
    options
}

#[test]
fn readme_documents_every_flag_and_environment_variable() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg("--help")
        .output()
        .expect("portico runs");
    let help = String::from_utf8_lossy(&output.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|command| *command != "help")
        .collect();
    assert!(commands.contains(&"run"), "{help}");
    let mut missing = Vec::new();
    for command in commands {
        for option in documented_options(command) {
            if !readme.contains(&option) {
                missing.push(format!("portico {command}: {option}"));
            }
        }
    }
    assert!(missing.is_empty(), "README.md lacks: {missing:#?}");
}
