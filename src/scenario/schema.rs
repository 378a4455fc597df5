//! The scenario format's JSON Schema, derived from the types serde reads, for editors (Taplo, the VS Code TOML
//! extensions) and `taplo check`. The committed `scenarios/scenario.schema.json` is this text; a test keeps it
//! current.

use super::Scenario;
use serde_json::Value;

/// Where the committed schema lives, relative to the repository root.
pub const SCHEMA_FILE: &str = "scenarios/scenario.schema.json";

/// The JSON Schema of a scenario file, pretty-printed with a final newline. Draft-07, the draft Taplo and the
/// VS Code TOML extensions validate with.
pub fn json_schema() -> String {
    let settings = schemars::generate::SchemaSettings::draft07().with_transform(drop_null);
    let mut schema = settings.into_generator().into_root_schema_for::<Scenario>();
    schema.insert("title".into(), "slacheck scenario".into());
    schema.insert(
        "description".into(),
        "A slacheck scenario: what to load, how hard, and which SLA must hold. Documented key by key in \
         scenarios/README.md."
            .into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is plain JSON");
    text.push('\n');
    text
}

/// TOML has no null: an optional key is absent or of its type. Drops the `null` that an `Option` adds, so that an
/// editor's message about a wrong value names the one type expected.
fn drop_null(schema: &mut schemars::Schema) {
    schemars::transform::transform_subschemas(&mut drop_null, schema);
    let Some(object) = schema.as_object_mut() else { return };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".into(), only);
        }
    }
    let is_null = |s: &Value| s.get("type") == Some(&Value::from("null"));
    if let Some(Value::Array(options)) = object.get("anyOf") {
        if options.len() == 2 && options.iter().any(is_null) {
            let kept = options.iter().find(|s| !is_null(s)).cloned().unwrap_or_default();
            object.remove("anyOf");
            match kept {
                Value::Object(fields) => fields.into_iter().for_each(|(k, v)| {
                    object.entry(k).or_insert(v);
                }),
                other => {
                    object.insert("allOf".into(), Value::Array(vec![other]));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        serde_json::from_str(&json_schema()).unwrap()
    }

    #[test]
    fn the_committed_schema_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == json_schema(),
            "{SCHEMA_FILE} is stale: regenerate it with `cargo run -- schema > {SCHEMA_FILE}`"
        );
    }

    #[test]
    fn every_table_rejects_unknown_keys_as_serde_does() {
        let schema = schema();
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
        let definitions = schema["definitions"].as_object().unwrap();
        let open: Vec<&String> = definitions
            .iter()
            .filter(|(_, d)| d.get("properties").is_some() && d["additionalProperties"] != Value::Bool(false))
            .map(|(name, _)| name)
            .collect();
        assert!(open.is_empty(), "tables that would take any key: {open:?}");
    }

    #[test]
    fn required_keys_are_those_without_a_default() {
        let schema = schema();
        assert_eq!(schema["required"], serde_json::json!(["name", "target", "load"]));
        assert_eq!(schema["definitions"]["Load"]["required"], serde_json::json!(["profile"]));
        assert_eq!(schema["definitions"]["Target"]["properties"]["timeout"]["default"], "10s");
    }

    #[test]
    fn every_shipped_scenario_names_the_schema_on_its_first_line() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.lines().next() != Some("#:schema ./scenario.schema.json") {
                    missing.push(path);
                }
            }
        }
        assert!(missing.is_empty(), "scenarios without `#:schema ./scenario.schema.json` first: {missing:?}");
    }
}
