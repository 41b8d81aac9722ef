//! The load of `kasane bench http --load wrk`: the same requests sent by `wrk` from a second
//! process, so the server's process does not also pay for an HTTP client. wrk is a widely used
//! C load generator (Debian package `wrk`); a Lua script generated here picks a random
//! (supporter, resident on their team) pair per request and counts GraphQL errors.

use crate::bench_http::{HttpBenchOptions, Phase};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What one wrk run reports on its last line (written by the script's `done`).
#[derive(Debug, Default, PartialEq)]
struct WrkSummary {
    requests: u64,
    duration_us: u64,
    errors: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    first_error: String,
}

/// Runs a warm-up and a measured wrk run against `url` with `bodies` (token, JSON body) and
/// returns the measured phase and the requests of both runs.
pub fn phase(
    opts: &HttpBenchOptions,
    url: &str,
    bodies: &[(String, String)],
    dir: &Path,
    name: &str,
) -> Result<(Phase, u64)> {
    let script = dir.join(format!("{name}.lua"));
    std::fs::write(&script, lua_script(bodies))
        .with_context(|| format!("cannot write {}", script.display()))?;
    let warm = run_wrk(
        opts,
        url,
        &script,
        Duration::from_millis(opts.seconds * 200),
    )?;
    let measured = run_wrk(opts, url, &script, Duration::from_secs(opts.seconds))?;
    let seconds = measured.duration_us as f64 / 1e6;
    let ok = measured.requests.saturating_sub(measured.errors);
    let phase = Phase {
        ok,
        failed: measured.errors,
        codes: if measured.first_error.is_empty() {
            Vec::new()
        } else {
            vec![measured.first_error.clone()]
        },
        rps: ok as f64 / seconds.max(1e-9),
        p50: Duration::from_micros(measured.p50_us),
        p99: Duration::from_micros(measured.p99_us),
        max: Duration::from_micros(measured.max_us),
    };
    Ok((phase, warm.requests + measured.requests))
}

/// Refuses early, before a town is generated, when `wrk` cannot be started.
pub fn ensure_installed() -> Result<()> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(NOT_INSTALLED),
        Err(e) => Err(e).context("cannot start wrk"),
    }
}

const NOT_INSTALLED: &str =
    "wrk is not installed: install it (Debian: `apt-get install wrk`) or use `--load in-process`";

fn run_wrk(
    opts: &HttpBenchOptions,
    url: &str,
    script: &Path,
    duration: Duration,
) -> Result<WrkSummary> {
    // wrk takes whole seconds.
    let seconds = duration.as_secs_f64().round().max(1.0) as u64;
    let output = Command::new("wrk")
        .arg(format!("-c{}", opts.connections))
        .arg(format!("-t{}", opts.connections.clamp(1, 2)))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(NOT_INSTALLED),
        Err(e) => return Err(e).context("cannot start wrk"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_summary(&stdout).with_context(|| format!("wrk printed no KASANE summary:\n{stdout}"))
}

/// Reads the `KASANE key=value …` line and the `KASANE-ERROR` line of the script's `done`.
fn parse_summary(stdout: &str) -> Option<WrkSummary> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("KASANE "))?;
    let mut s = WrkSummary::default();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=')?;
        let value: u64 = value.parse().ok()?;
        match key {
            "requests" => s.requests = value,
            "duration_us" => s.duration_us = value,
            "errors" => s.errors = value,
            "p50_us" => s.p50_us = value,
            "p99_us" => s.p99_us = value,
            "max_us" => s.max_us = value,
            _ => {}
        }
    }
    s.first_error = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KASANE-ERROR "))
        .unwrap_or_default()
        .to_owned();
    Some(s)
}

/// The Lua script: the requests as long strings, a random pick per request, errors counted
/// per thread and summed in `done`.
fn lua_script(bodies: &[(String, String)]) -> String {
    let mut lua = String::from("local requests = {\n");
    for (token, body) in bodies {
        let headers = json!({
            "Content-Type": "application/json",
            "Authorization": format!("Bearer {token}"),
        });
        // Long brackets need no escaping as long as the text has no `]==]`.
        let _ = writeln!(
            lua,
            "  wrk.format(\"POST\", nil, {}, [==[{body}]==]),",
            lua_table(&headers)
        );
    }
    lua.push_str(
        r#"}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) errors = 0; first_error = "" end
function request() return requests[math.random(#requests)] end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if first_error == "" then first_error = string.sub(body, 1, 200) end
  end
end
function done(summary, latency, requests)
  local e, first = 0, ""
  for _, t in ipairs(threads) do
    e = e + t:get("errors")
    if first == "" then first = t:get("first_error") end
  end
  io.write(string.format("KASANE requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e, latency:percentile(50), latency:percentile(99), latency.max))
  if first ~= "" then io.write("KASANE-ERROR " .. string.gsub(first, "\n", " ") .. "\n") end
end
"#,
    );
    lua
}

/// A flat JSON object of strings as a Lua table.
fn lua_table(object: &serde_json::Value) -> String {
    let fields: Vec<String> = object
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("[{:?}] = {:?}", k, v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    format!("{{{}}}", fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_is_read_back() {
        let out = "Running 1s test\nKASANE requests=120 duration_us=1000000 errors=2 p50_us=900 \
                   p99_us=5000 max_us=7000\nKASANE-ERROR {\"errors\":[]}\n";
        let s = parse_summary(out).unwrap();
        assert_eq!(
            s,
            WrkSummary {
                requests: 120,
                duration_us: 1_000_000,
                errors: 2,
                p50_us: 900,
                p99_us: 5000,
                max_us: 7000,
                first_error: "{\"errors\":[]}".into(),
            }
        );
        assert!(parse_summary("no summary").is_none());
    }

    #[test]
    fn the_script_holds_every_request_with_its_token() {
        let lua = lua_script(&[("tok1".into(), "{\"query\":\"{ a }\"}".into())]);
        assert!(
            lua.contains("[\"Authorization\"] = \"Bearer tok1\""),
            "{lua}"
        );
        assert!(lua.contains("[==[{\"query\":\"{ a }\"}]==]"), "{lua}");
        assert!(lua.contains("function done"));
    }
}
