//! `junit.xml`: one test case per SLA target.

use super::*;

/// `junit.xml`: one test case per SLA target, so CI systems show each target natively.
pub fn junit(summary: &Summary) -> String {
    let name = xml_escape(&format!("slacheck.{}", summary.scenario.name));
    let targets = &summary.verdict.targets;
    // Every target that did not pass is a <failure> below, undecided ones too: the attribute counts the same.
    let failures = targets.iter().filter(|t| !t.passed).count();
    // An interrupted run is one more case, in error: the targets it held were judged on a part of the run, and a
    // dashboard that reads only this file must not show it green.
    let errors = usize::from(!summary.complete);
    let tests = targets.len() + errors;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ =
        writeln!(out, "<testsuites name=\"slacheck\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">");
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\">",
        summary.duration_s,
        xml_escape(summary.started_at.trim_end_matches('Z'))
    );
    for t in targets {
        let (limit, measured) = target_cells(t);
        let case = xml_escape(&format!("{} {limit}", t.name));
        let _ = write!(out, "    <testcase classname=\"{name}.sla\" name=\"{case}\" time=\"0\"");
        if t.passed {
            out.push_str(" />\n");
        } else {
            let message = match (&t.note, t.judgement) {
                (Some(note), crate::sla::Judgement::InsufficientData) => {
                    format!("{}: insufficient data: measured {measured}, limit {limit}; {note}", t.name)
                }
                (Some(note), _) if t.measured_ms.is_none() && t.measured_ratio.is_none() => {
                    format!("{}: {note}", t.name)
                }
                (Some(note), _) => format!("{} measured {measured}, limit {limit}; {note}", t.name),
                (None, _) => format!("{} measured {measured}, limit {limit}", t.name),
            };
            let _ = writeln!(
                out,
                ">\n      <failure type=\"sla\" message=\"{}\" />\n    </testcase>",
                xml_escape(&message)
            );
        }
    }
    if !summary.complete {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{name}.run\" name=\"the whole schedule ran\" time=\"{:.3}\">\n      \
             <error type=\"interrupted\" message=\"the run was interrupted; the numbers cover only the part that ran\" />\n    \
             </testcase>",
            summary.duration_s
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
