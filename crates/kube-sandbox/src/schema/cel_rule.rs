//! One compiled `x-kubernetes-validations` entry: its CEL program, optional message expression,
//! and what a failure reports (message, field path, reason). Compiled once when the schema is;
//! `cel.rs` evaluates it.

use serde_json::Value;
use std::sync::Arc;

/// One compiled rule.
#[derive(Clone)]
pub struct Rule {
    pub(super) program: Arc<cel::Program>,
    pub(super) message_expression: Option<Arc<cel::Program>>,
    pub(super) rule: String,
    pub(super) message: Option<String>,
    pub(super) field_path: Option<String>,
    pub(super) reason: Option<String>,
    pub(super) uses_old_self: bool,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("rule", &self.rule)
            .field("message", &self.message)
            .finish()
    }
}

impl Rule {
    /// Compiles one `x-kubernetes-validations` entry; the error is the field-error detail.
    pub fn compile(spec: &Value) -> Result<Self, String> {
        let rule = spec
            .get("rule")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string();
        if rule.is_empty() {
            return Err("rule is not specified".into());
        }
        let program =
            cel::Program::compile(&rule).map_err(|err| format!("compilation failed: {err}"))?;
        let uses_old_self = program.references().variables().contains(&"oldSelf");
        let message_expression = match spec.get("messageExpression").and_then(Value::as_str) {
            Some(source) if !source.trim().is_empty() => {
                Some(Arc::new(cel::Program::compile(source).map_err(|err| {
                    format!("messageExpression compilation failed: {err}")
                })?))
            }
            _ => None,
        };
        let text = |name: &str| {
            spec.get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(Rule {
            program: Arc::new(program),
            message_expression,
            rule,
            message: text("message"),
            field_path: text("fieldPath"),
            reason: text("reason"),
            uses_old_self,
        })
    }

    /// `ruleErrorString`: the message if any, else the rule.
    pub(super) fn error_string(&self) -> &str {
        self.message.as_deref().unwrap_or(&self.rule)
    }
}
