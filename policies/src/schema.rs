//! The JSON Schema of policy files, for editors (TOML and YAML language
//! servers both take JSON Schema). Field names, event kinds and syscall
//! names come from the same catalogue validation uses, so the schema can
//! never offer a name `scrim policy check` would refuse.
use scrim_event::{EventKind, field};
use serde_json::{Value, json};

use crate::model::LegalBasis;

/// The schema of version-1 policies.
pub fn json_schema() -> Value {
    let field_names: Vec<&str> = field::ALL.iter().map(|field| field.name).collect();
    let kinds: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
    let bases: Vec<&str> = LegalBasis::ALL.iter().map(|basis| basis.as_str()).collect();
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let duration = json!({
        "type": "string",
        "description": "A duration such as \"30d\", \"12h\" or \"1m\"."
    });
    let criteria = |extra: Value| {
        let mut properties = json!({
            "cgroup_path": { "description": "cgroup v2 path globs, such as \"/acme/**\".", "type": "array", "items": { "type": "string" } },
            "k8s_namespace": { "description": "Kubernetes namespace globs.", "type": "array", "items": { "type": "string" } },
        });
        if let (Some(properties), Some(extra)) = (properties.as_object_mut(), extra.as_object()) {
            properties.extend(extra.clone());
        }
        json!({ "type": "object", "additionalProperties": false, "properties": properties })
    };
    let action = json!({
        "oneOf": [
            { "enum": ["keep", "drop", "pseudonymize", "scrub_secrets"] },
            {
                "type": "object", "additionalProperties": false, "required": ["truncate"],
                "properties": { "truncate": {
                    "description": "Keep an IP address's network prefix.",
                    "type": "object", "additionalProperties": false, "required": ["ipv4", "ipv6"],
                    "properties": {
                        "ipv4": { "type": "integer", "minimum": 0, "maximum": 32 },
                        "ipv6": { "type": "integer", "minimum": 0, "maximum": 128 }
                    }
                } }
            },
            {
                "type": "object", "additionalProperties": false, "required": ["coarsen"],
                "properties": { "coarsen": duration.clone() }
            },
            {
                "type": "object", "additionalProperties": false, "required": ["generalize"],
                "properties": { "generalize": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "depth": { "type": "integer", "minimum": 0 },
                        "prefixes": strings.clone()
                    }
                } }
            }
        ]
    });
    let path_sink = |kind: &str| {
        json!({
            "type": "object", "additionalProperties": false, "required": [kind],
            "properties": { kind: {
                "type": "object", "additionalProperties": false, "required": ["path"],
                "properties": { "path": { "type": "string", "minLength": 1 } }
            } }
        })
    };
    let otlp = json!({
        "type": "object", "additionalProperties": false, "required": ["otlp"],
        "properties": { "otlp": {
            "type": "object", "additionalProperties": false, "required": ["endpoint"],
            "properties": {
                "endpoint": { "type": "string", "pattern": "^https?://" },
                "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                "protocol": { "enum": ["grpc", "http/protobuf"] }
            }
        } }
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "scrim policy",
        "type": "object",
        "additionalProperties": false,
        "required": ["version"],
        "properties": {
            "version": { "const": crate::model::VERSION },
            "defaults": {
                "type": "object", "additionalProperties": false,
                "properties": { "unknown_tenant": {
                    "description": "\"drop\", or the tenant that takes events no selector matches.",
                    "type": "string"
                } }
            },
            "keys": {
                "type": "object", "additionalProperties": false,
                "required": ["master_key_file", "rotation"],
                "properties": {
                    "master_key_file": { "description": "At least 32 bytes, mode 0600.", "type": "string" },
                    "rotation": duration.clone()
                }
            },
            "opt_out": {
                "description": "Never captured, dropped in the kernel.",
                "type": "array",
                "items": criteria(json!({ "uid": { "type": "array", "items": { "type": "integer", "minimum": 0 } } }))
            },
            "tenant": {
                "type": "array",
                "items": {
                    "type": "object", "additionalProperties": false,
                    "required": ["name", "purpose", "legal_basis", "match", "capture", "sinks"],
                    "properties": {
                        "name": { "type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]*$" },
                        "purpose": { "type": "string", "minLength": 1 },
                        "legal_basis": {
                            "description": "The ground of GDPR Art. 6(1): consent (a), contract (b), legal_obligation (c), vital_interests (d), public_task (e) or legitimate_interests (f).",
                            "enum": bases
                        },
                        "legal_basis_detail": { "description": "The ground in words: the law, the contract, the interest weighed.", "type": "string", "minLength": 1 },
                        "dpia": { "description": "Where the data protection impact assessment (Art. 35) is kept.", "type": "string", "minLength": 1 },
                        "lia": { "description": "Where the legitimate-interest assessment is kept.", "type": "string", "minLength": 1 },
                        "special_categories": { "description": "Art. 9 acknowledgement: how paths, arguments and syscall text that can reveal special categories of data are handled; required when they leave readable.", "type": "string", "minLength": 1 },
                        "match": criteria(json!({
                            "k8s_pod_labels": { "type": "object", "additionalProperties": { "type": "string" } },
                            "uid_range": { "type": "array", "items": { "type": "integer", "minimum": 0 }, "minItems": 2, "maxItems": 2 }
                        })),
                        "capture": {
                            "description": "\"process\", \"network\", \"syscall:openat,connect\".",
                            "type": "array", "minItems": 1,
                            "items": { "type": "string", "pattern": "^(process|network|syscall:[a-z0-9_]+(,[a-z0-9_]+)*)$" }
                        },
                        "fields": {
                            "description": "A rule per field; fields without one never leave.",
                            "type": "object",
                            "propertyNames": { "enum": field_names },
                            "additionalProperties": action
                        },
                        "retention": {
                            "type": "object",
                            "propertyNames": { "enum": kinds },
                            "additionalProperties": duration
                        },
                        "sinks": {
                            "type": "array", "minItems": 1,
                            "items": { "oneOf": [path_sink("parquet"), path_sink("jsonl"), otlp] }
                        },
                        "archive_group": {
                            "description": "The group (numeric gid) that may read this tenant's archive directories (mode 0750); nobody else but scrim can.",
                            "type": "integer", "minimum": 0
                        },
                        "quota": {
                            "description": "At most this many records a second (and a burst), enforced in the kernel; the excess is dropped and counted.",
                            "type": "object", "additionalProperties": false,
                            "required": ["events_per_second"],
                            "properties": {
                                "events_per_second": { "type": "integer", "minimum": 1 },
                                "burst": { "type": "integer", "minimum": 1 }
                            }
                        }
                    }
                }
            }
        }
    })
}
