//! Reads archives back: with the `parquet` crate (what the sink wrote), and
//! with DuckDB, an independent reader that proves other tools can too.
use std::{
    fs::File,
    io,
    path::{Path, PathBuf},
    process::Command,
};

use arrow::{array::RecordBatch, util::display::array_value_to_string};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Set to `1` to make tests fail, not skip, when an independent checker that
/// `scripts/setup.sh` installs (DuckDB, jsonschema) is missing.
pub const REQUIRE_TOOLS: &str = "SCRIM_REQUIRE_TOOLS";

/// Every file under `root` whose name ends in `suffix`, sorted.
pub fn files_with_suffix(root: &Path, suffix: &str) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every JSON-lines object in every `.jsonl` file under `root`.
pub fn json_lines(root: &Path) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let mut objects = Vec::new();
    for path in files_with_suffix(root, ".jsonl")? {
        for line in std::fs::read_to_string(&path)?.lines() {
            objects.push(serde_json::from_str(line)?);
        }
    }
    Ok(objects)
}

/// One row as column name -> displayed value ("" for null).
pub type Row = std::collections::BTreeMap<String, String>;

/// Every row of every Parquet file under `root`.
pub fn parquet_rows(root: &Path) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for path in files_with_suffix(root, ".parquet")? {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)?.build()?;
        for batch in reader {
            rows.extend(batch_rows(&batch?)?);
        }
    }
    Ok(rows)
}

fn batch_rows(batch: &RecordBatch) -> Result<Vec<Row>, arrow::error::ArrowError> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|index| {
            schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(field, column)| {
                    let value = if column.is_null(index) {
                        String::new()
                    } else {
                        array_value_to_string(column, index)?
                    };
                    Ok((field.name().clone(), value))
                })
                .collect()
        })
        .collect()
}

/// Runs `sql` in DuckDB (the Python package `scripts/setup.sh` installs) and
/// returns the rows as JSON values. `Err` says why DuckDB could not run.
pub fn duckdb_query(sql: &str) -> Result<Vec<Vec<serde_json::Value>>, String> {
    const SCRIPT: &str = "import duckdb, json, sys\n\
        rows = duckdb.sql(sys.argv[1]).fetchall()\n\
        print(json.dumps(rows, default=str))";
    let output = Command::new("python3")
        .args(["-c", SCRIPT, sql])
        .output()
        .map_err(|error| format!("cannot run python3: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "DuckDB failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| format!("bad DuckDB output: {error}"))
}

/// Whether DuckDB for Python is installed (see [`python_module_or_skip`]).
pub fn duckdb_or_skip(test: &str) -> bool {
    python_module_or_skip(test, "duckdb")
}

/// Whether the Python module `module` is installed; when it is not and
/// [`REQUIRE_TOOLS`] is set, panics.
pub fn python_module_or_skip(test: &str, module: &str) -> bool {
    let available = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    tool_or_skip(test, &format!("Python {module}"), available)
}

/// Whether `program` runs (`program --version`); when it does not and
/// [`REQUIRE_TOOLS`] is set, panics.
pub fn program_or_skip(test: &str, program: &str) -> bool {
    command_or_skip(test, program, &["--version"])
}

/// Whether `program args` succeeds (for tools that take no `--version`,
/// or a subcommand that must be there); when it does not and
/// [`REQUIRE_TOOLS`] is set, panics.
pub fn command_or_skip(test: &str, program: &str, args: &[&str]) -> bool {
    let available = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|output| output.status.success());
    tool_or_skip(test, &format!("{program} {}", args.join(" ")), available)
}

fn tool_or_skip(test: &str, tool: &str, available: bool) -> bool {
    let required = std::env::var(REQUIRE_TOOLS).is_ok_and(|value| value == "1");
    match (available, required) {
        (true, _) => true,
        (false, true) => panic!("{test}: {REQUIRE_TOOLS} is set but {tool} is missing"),
        (false, false) => {
            eprintln!("skipping the {tool} part of {test}: run scripts/setup.sh to install it");
            false
        }
    }
}
