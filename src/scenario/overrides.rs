//! `--set KEY=VALUE`: changing any scenario setting for one run, then checking again.

use super::*;
use slacheck_common::tomlfile::FileError;

impl LoadedScenario {
    /// Applies `key.path=value` settings (values in TOML syntax; bare words are strings) and checks again.
    pub fn with_settings(mut self, settings: &[String]) -> Result<Self, FileError> {
        if settings.is_empty() {
            return Ok(self);
        }
        let original: toml::Table = toml::from_str(&self.source).map_err(|e| cli_error("", e.to_string()))?;
        let mut table = original.clone();
        for setting in settings {
            set(&mut table, setting)?;
        }
        self.scenario = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            // The message names no key: the setting that fails on its own is the one to name.
            let alone = |setting: &&String| {
                let mut one = original.clone();
                set(&mut one, setting).is_ok()
                    && toml::Value::Table(one).try_into::<Scenario>().is_err_and(|e2| e2.message() == e.message())
            };
            let key = settings.iter().find(alone).and_then(|s| s.split_once('=')).map_or("", |(k, _)| k.trim());
            cli_error(key, slacheck_common::tomlfile::with_suggestion(e.message().trim()))
        })?;
        self.check()?;
        Ok(self)
    }
}

fn cli_error(field: &str, message: String) -> FileError {
    FileError { file: "--set".into(), line: None, column: None, field: field.to_string(), message }
}

/// One `key.path=value` into `table`.
fn set(table: &mut toml::Table, setting: &str) -> Result<(), FileError> {
    let (key, raw) = setting
        .split_once('=')
        .ok_or_else(|| cli_error(setting, "expected KEY=VALUE, e.g. failover.enabled=false".into()))?;
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut at = table;
    for part in &parts[..parts.len() - 1] {
        at = at
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| cli_error(key, format!("`{part}` is not a table")))?;
    }
    at.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}
