//! The default session group: the DAW process the instance runs under.
//!
//! When a host sandboxes plugins, each instance runs in a helper process whose parent is the
//! DAW. Instances in helpers of one DAW must share a group, and two DAWs (two projects open at
//! once) must not: so the group names the nearest ancestor that is not a known plugin helper.

/// Environment variable that overrides the default group (set by the user or a test).
pub const GROUP_ENV: &str = "LATHE_SESSION_GROUP";

/// Process names (lower case, substrings) of plugin sandboxes and bridges, which are skipped
/// when looking for the DAW.
const HELPER_NAMES: &[&str] = &[
    "pluginhost",
    "plugin-host",
    "plugin_host",
    "reaper_host",
    "bridge",
    "sandbox",
    "audiocomponentregistrar",
];

/// How far up the process tree the search goes.
const MAX_DEPTH: usize = 4;

/// `$LATHE_SESSION_GROUP` if set, else `<daw process name>-<pid>` (for example `reaper-4312`).
pub fn default_group() -> String {
    if let Ok(group) = std::env::var(GROUP_ENV) {
        let group = group.trim();
        if !group.is_empty() {
            return group.to_owned();
        }
    }
    let mut pid = std::process::id();
    let mut name = process_name(pid).unwrap_or_else(|| "host".to_owned());
    for _ in 0..MAX_DEPTH {
        if !is_helper(&name) {
            break;
        }
        match parent_of(pid).and_then(|p| Some((p, process_name(p)?))) {
            Some((parent, parent_name)) if parent > 1 => {
                pid = parent;
                name = parent_name;
            }
            _ => break,
        }
    }
    format!("{name}-{pid}")
}

fn is_helper(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    HELPER_NAMES.iter().any(|h| lower.contains(h))
}

#[cfg(target_os = "linux")]
fn process_name(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim().to_owned()).filter(|c| !c.is_empty())
}

#[cfg(target_os = "linux")]
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": comm may contain spaces and parentheses, so split after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn process_name(pid: u32) -> Option<String> {
    // Only our own name is cheap to get portably.
    if pid != std::process::id() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.file_stem()?.to_string_lossy().into_owned())
}

#[cfg(not(target_os = "linux"))]
fn parent_of(_pid: u32) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_are_recognised() {
        assert!(is_helper("BitwigPluginHost-X64-SSE41"));
        assert!(is_helper("reaper_host64"));
        assert!(is_helper("yabridge-host.exe"));
        assert!(!is_helper("reaper"));
        assert!(!is_helper("bitwig-studio"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_default_group_names_this_process() {
        // The test binary is no plugin helper, so the group is its own name and pid (unless
        // the environment overrides it).
        if std::env::var_os(GROUP_ENV).is_none() {
            let group = default_group();
            assert!(
                group.ends_with(&format!("-{}", std::process::id())),
                "{group}"
            );
        }
        assert!(parent_of(std::process::id()).is_some_and(|p| p > 0));
    }
}
