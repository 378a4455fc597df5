//! `report.html`: one self-contained page with the verdict, the tables and the plots inline.

use super::*;

/// `report.html`: one self-contained page with the verdict, the tables and the plots inline.
pub fn html(summary: &Summary, svgs: &[String]) -> String {
    let md = markdown(summary);
    let mut body = String::new();
    let mut in_table = false;
    for line in md.lines() {
        if let Some(rest) = line.strip_prefix("### ") {
            let _ = writeln!(body, "<h1>{}</h1>", xml_escape(rest));
        } else if line.starts_with('|') {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':'))) {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            body.push_str("<tr>");
            for c in cells {
                let _ = write!(body, "<{tag}>{}</{tag}>", xml_escape(c));
            }
            body.push_str("</tr>\n");
        } else {
            if in_table {
                body.push_str("</table>\n");
                in_table = false;
            }
            let text = line.trim_start_matches("> ").trim();
            if let Some(item) = text.strip_prefix("- ") {
                let _ = writeln!(body, "<p class=\"note\">• {}</p>", xml_escape(item));
            } else if !text.is_empty() {
                let _ = writeln!(body, "<p>{}</p>", xml_escape(text));
            }
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    for svg in svgs {
        let _ = writeln!(body, "<figure>{svg}</figure>");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>slacheck: {}</title>\n<style>\n\
         body {{ font-family: sans-serif; max-width: 1040px; margin: 2em auto; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}\n\
         td:first-child, th:first-child {{ text-align: left; }} figure {{ margin: 1.5em 0; }} svg {{ max-width: 100%; height: auto; }}\n\
         </style></head><body>\n{body}</body></html>\n",
        xml_escape(&summary.scenario.name)
    )
}
