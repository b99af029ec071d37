//! Build script: generates the typed gateway client from `openapi/gateway.yaml` (see issue 2)
//! into `$OUT_DIR/gateway_client.rs`; no generated code is checked in.
use std::path::Path;

const SPEC: &str = "../../openapi/gateway.yaml";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(message) = generate() {
        // A build script reports failure by panicking; the message is what cargo prints.
        panic!("failed to generate the gateway client from {SPEC}: {message}");
    }
}

fn generate() -> Result<(), String> {
    let text = std::fs::read_to_string(SPEC).map_err(|e| format!("failed to read: {e}"))?;
    let spec: openapiv3::OpenAPI =
        serde_saphyr::from_str(&text).map_err(|e| format!("failed to parse: {e}"))?;
    let mut settings = progenitor::GenerationSettings::new();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        .with_tag(progenitor::TagStyle::Merged)
        // The wrapper builds one generated client per call whose inner value carries that call's
        // token, trace context and response observations; the hooks are implemented by hand.
        .with_inner_type(quote_path("crate::hooks::CallHooks")?)
        .with_hooks(progenitor::HooksMode::Expected);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .map_err(|e| format!("failed to generate: {e}"))?;
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("failed to parse generated code: {e}"))?;
    let code = prettyplease::unparse(&file);
    let out_dir = std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR is not set: {e}"))?;
    std::fs::write(Path::new(&out_dir).join("gateway_client.rs"), code)
        .map_err(|e| format!("failed to write: {e}"))
}

fn quote_path(path: &str) -> Result<proc_macro2::TokenStream, String> {
    path.parse()
        .map_err(|e| format!("failed to parse type path {path}: {e}"))
}
