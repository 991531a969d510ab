"""Reporting on a run directory: what each stage left there, as a report and as a summary table.

One job per module, lowest first:

* `document`: the report's content (sections of text, tables, code and figures), format-free;
* `markdown`, `html`: render that content to report.md and to a self-contained report.html;
* `run_files`: find and leniently read a run directory's files (gates, histories, metrics);
* `plots`: gates.png and curves.png (matplotlib, headless);
* `sections`: one report section per stage (search, tuner, training, QAT, export, TIDL, files);
* `report`: assemble the sections and write the report files (`build_report`);
* `summary`: the one-table "what did the run give me" (`collect`, `format_table`; MACs are
  counted by `ednas_tf.cost.size.arch_macs`).

Only `summary` needs TensorFlow (it rebuilds the child to count MACs and predict its latency);
the report does not, so it runs anywhere the run directory can be read. Nothing is re-exported
here, so importing one module never pulls in another's dependencies.
"""
