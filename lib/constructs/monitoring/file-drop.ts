/** The alarms of a file drop: files the ingest function gave up on, quarantined files, its function, files not arriving. */
import { INGEST_METRICS } from '#shared/contracts/metrics';
import { type AlarmFactory, ANY_IN_ONE_PERIOD } from './alarm-factory.ts';
import { fileDropStaleAlarms } from './freshness.ts';
import type { MonitoredFileDrop } from './props.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** Every alarm of the file drop, in the order the health alarm lists them. */
export function fileDropAlarms(alarms: AlarmFactory, fileDrop: MonitoredFileDrop): void {
  alarms.queueNotEmpty(
    'FileDropDeadLetters',
    fileDrop.deadLetterQueue,
    'file drop',
    RUNBOOK_ANCHORS.fileDropDeadLetters,
    'file drop dead letters',
    'The ingest function failed on dropped files after its retries: those files have neither landed nor been quarantined.',
    [
      'aws sqs receive-message on the file-drop dead-letter queue (the S3 keys of the files)',
      `Logs Insights on /connector/${alarms.name}/ingest-file: filter level = "ERROR"`,
    ],
  );
  alarms.add(
    'FilesQuarantined',
    'warning',
    'file drop',
    RUNBOOK_ANCHORS.filesQuarantined,
    'files quarantined',
    'Dropped files failed validation and were moved to quarantine/ with a machine-readable reason; their rows did not land.',
    [
      `aws s3 ls s3://<landing bucket>/quarantine/ --recursive (newest first) and the reason file beside each`,
      'whether the operator changed its export format (columns, delimiter, time format)',
    ],
    alarms.metrics.metric(INGEST_METRICS.filesQuarantined, 'Sum', alarms.period),
    ANY_IN_ONE_PERIOD,
  );
  alarms.functionAlarms(fileDrop.ingest, 'ingest-file');
  fileDropStaleAlarms(alarms);
}
