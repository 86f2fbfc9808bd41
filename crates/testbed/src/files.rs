//! Reading the files tests leave or rely on: a fenced block of the README between HTML
//! comment markers (so a test can run what the README prints), and the tails of the child
//! processes' logs in a directory (for failure messages).

use std::path::Path;

use crate::peers::workspace_root;

/// The body of the first fenced code block between `<!-- marker -->` and `<!-- /marker -->`
/// in the workspace's README.md; panics naming the marker when it is missing.
pub fn readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let start = readme
        .find(&format!("<!-- {marker} -->"))
        .unwrap_or_else(|| panic!("README.md has no <!-- {marker} --> marker"));
    let end = readme
        .find(&format!("<!-- /{marker} -->"))
        .unwrap_or_else(|| panic!("README.md does not close <!-- {marker} -->"));
    let block = &readme[start..end];
    let open = block.find("```").expect("a fenced block after the marker");
    let body = open + block[open..].find('\n').expect("the fence line ends") + 1;
    let close = block[body..].find("```").expect("the fenced block ends") + body;
    block[body..close].to_string()
}

/// The last `lines` lines of every `*.log` file in `dir`, newest first, for a failure message.
pub fn log_tails(dir: &Path, lines: usize) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            out.push_str(&format!(
                "--- {} (newest first)\n{}\n",
                path.display(),
                tail.join("\n")
            ));
        }
    }
    out
}
