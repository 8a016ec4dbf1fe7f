// Schema of the sample PMS databases, modelled on a subset of Open Dental's public schema (same table and
// column names, integer status codes), with dates as ISO text because SQLite has no date type.

/** Tables every sample database holds. */
export const SAMPLE_TABLES = ['practice', 'integration', 'provider', 'operatory', 'patient', 'appointment'] as const;

/** Indexes besides primary keys, by name. */
export const SAMPLE_INDEXES = ['appointment_PatNum', 'appointment_AptDateTime', 'patient_LName'] as const;

/** Version the sample practice reports as its PMS version. */
export const SAMPLE_PMS_VERSION = '24.1.7';

/** "Today" for generated data: visits before it are past, visits after it are booked. */
export const SAMPLE_REFERENCE_DATE = '2025-01-06';

/** Name of the integration row the agent checks (the sample profile's); enabled in every generated database. */
export { SAMPLE_INTEGRATION } from '@halo/pms';

/** Patients generated when no count is given. */
export const SAMPLE_DEFAULT_PATIENTS = 2000;

/** Open Dental's patient.PatStatus codes. */
export const PATIENT_STATUS = { patient: 0, nonPatient: 1, inactive: 2, archived: 3, deceased: 5, prospective: 6 } as const;

/** Open Dental's appointment.AptStatus codes. */
export const APPOINTMENT_STATUS = { scheduled: 1, complete: 2, unscheduledList: 3, broken: 5 } as const;

/** Open Dental's patient.Gender codes. */
export const GENDER = { male: 0, female: 1, unknown: 2 } as const;

export const SAMPLE_DDL = `
CREATE TABLE practice (
  PmsId TEXT NOT NULL PRIMARY KEY,
  PracticeName TEXT NOT NULL,
  PmsVersion TEXT NOT NULL,
  Address TEXT NOT NULL,
  City TEXT NOT NULL,
  State TEXT NOT NULL,
  Zip TEXT NOT NULL,
  Phone TEXT NOT NULL
);
CREATE TABLE integration (
  Name TEXT NOT NULL PRIMARY KEY,
  Enabled INTEGER NOT NULL,
  DateTEnabled TEXT,
  PairingCode TEXT
);
CREATE TABLE provider (
  ProvNum INTEGER PRIMARY KEY,
  Abbr TEXT NOT NULL,
  LName TEXT NOT NULL,
  FName TEXT NOT NULL,
  MI TEXT NOT NULL,
  Suffix TEXT NOT NULL,
  Specialty TEXT NOT NULL,
  IsSecondary INTEGER NOT NULL,
  IsHidden INTEGER NOT NULL,
  ProvColor INTEGER NOT NULL,
  NationalProvID TEXT NOT NULL,
  ItemOrder INTEGER NOT NULL
);
CREATE TABLE operatory (
  OperatoryNum INTEGER PRIMARY KEY,
  OpName TEXT NOT NULL,
  Abbrev TEXT NOT NULL,
  ItemOrder INTEGER NOT NULL,
  IsHidden INTEGER NOT NULL,
  ProvDentist INTEGER NOT NULL,
  ProvHygienist INTEGER NOT NULL,
  IsHygiene INTEGER NOT NULL
);
CREATE TABLE patient (
  PatNum INTEGER PRIMARY KEY,
  LName TEXT NOT NULL,
  FName TEXT NOT NULL,
  MiddleI TEXT NOT NULL,
  Preferred TEXT NOT NULL,
  PatStatus INTEGER NOT NULL,
  Gender INTEGER NOT NULL,
  Birthdate TEXT,
  Email TEXT NOT NULL,
  HmPhone TEXT NOT NULL,
  WirelessPhone TEXT NOT NULL,
  Address TEXT NOT NULL,
  City TEXT NOT NULL,
  State TEXT NOT NULL,
  Zip TEXT NOT NULL,
  Guarantor INTEGER NOT NULL,
  PriProv INTEGER NOT NULL,
  DateFirstVisit TEXT,
  EstBalance REAL NOT NULL,
  DateTStamp TEXT NOT NULL
);
CREATE TABLE appointment (
  AptNum INTEGER PRIMARY KEY,
  PatNum INTEGER NOT NULL REFERENCES patient (PatNum),
  AptStatus INTEGER NOT NULL,
  Pattern TEXT NOT NULL,
  Confirmed INTEGER NOT NULL,
  Op INTEGER NOT NULL REFERENCES operatory (OperatoryNum),
  ProvNum INTEGER NOT NULL REFERENCES provider (ProvNum),
  ProvHyg INTEGER NOT NULL,
  AptDateTime TEXT NOT NULL,
  DateTimeArrived TEXT,
  DateTimeSeated TEXT,
  DateTimeDismissed TEXT,
  IsNewPatient INTEGER NOT NULL,
  IsHygiene INTEGER NOT NULL,
  ProcDescript TEXT NOT NULL,
  Note TEXT NOT NULL,
  DateTStamp TEXT NOT NULL
);
CREATE INDEX appointment_PatNum ON appointment (PatNum);
CREATE INDEX appointment_AptDateTime ON appointment (AptDateTime);
CREATE INDEX patient_LName ON patient (LName);
`;

/** The pairing code the sample PMS issues for the Halo integration: derived from the PMS ID (sample data only). */
export function samplePairingCode(pmsId: string): string {
  let h = 0x811c9dc5;
  for (const ch of `pairing:${pmsId}`) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193) >>> 0;
  return `PAIR-${h.toString(36).toUpperCase().padStart(7, '0')}`;
}
