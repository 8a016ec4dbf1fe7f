import { renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createRandom, hashSeed } from './random.ts';
import type { Random } from './random.ts';
import {
  APPOINTMENT_NOTES, CITIES, EMAIL_DOMAINS, FEMALE_NAMES, MALE_NAMES, NICKNAMES, STREETS, STREET_SUFFIXES, SURNAMES,
} from './sample-names.ts';
import {
  APPOINTMENT_STATUS, GENDER, PATIENT_STATUS, SAMPLE_DDL, SAMPLE_DEFAULT_PATIENTS, SAMPLE_INTEGRATION,
  SAMPLE_PMS_VERSION, SAMPLE_REFERENCE_DATE, samplePairingCode,
} from './sample-schema.ts';
import type { SAMPLE_TABLES } from './sample-schema.ts';

/** What a sample practice is called and how big it is. */
export interface SampleDatabaseOptions {
  pmsId: string;
  practiceName: string;
  /** Defaults to a hash of pmsId, so each practice differs but stays reproducible. */
  seed?: number;
  /** Defaults to SAMPLE_DEFAULT_PATIENTS. */
  patients?: number;
}

type Row = Record<string, string | number | null>;

const DAY_MS = 86_400_000;
const REFERENCE_MS = Date.parse(`${SAMPLE_REFERENCE_DATE}T00:00:00Z`);
const EARLIEST_VISIT_MS = Date.parse('2012-01-02T00:00:00Z');
const AREA_CODES: Readonly<Record<string, string>> = { OR: '503', WA: '360', ID: '208' };
const DENTISTS = [1, 2, 3];
const HYGIENISTS = [4, 5];
const FORMER_DENTIST = 6;
const DENTIST_OPS = [1, 2, 3];
const HYGIENE_OPS = [4, 5];

/**
 * Writes a realistic sample dental practice database to `path` (replacing any file there). The same options
 * always give byte-for-byte the same file: all data comes from a seeded PRNG and a fixed reference date.
 */
export function createSampleDatabase(path: string, options: SampleDatabaseOptions): void {
  const patients = options.patients ?? SAMPLE_DEFAULT_PATIENTS;
  if (!Number.isInteger(patients) || patients < 1) throw new RangeError('patients must be a positive integer');
  const random = createRandom(options.seed ?? hashSeed(options.pmsId));
  // Built beside the target and renamed over it, so readers never see a half-written database.
  const temporary = `${path}.${process.pid}.tmp`;
  rmSync(temporary, { force: true });
  try {
    const db = new Database(temporary);
    try {
      db.pragma('journal_mode = OFF');
      db.pragma('synchronous = OFF');
      db.pragma('user_version = 1');
      db.exec(SAMPLE_DDL);
      db.transaction(() => fill(db, random, options, patients))();
      db.exec('VACUUM');
    } finally {
      db.close();
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

function fill(db: Database.Database, random: Random, options: SampleDatabaseOptions, patientCount: number): void {
  for (const [table, rows] of generateRows(random, options, patientCount)) {
    const first = rows[0];
    if (!first) continue;
    const columns = Object.keys(first);
    const statement = db.prepare(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((column) => `@${column}`).join(', ')})`,
    );
    for (const row of rows) statement.run(row);
  }
}

/** One sample table's rows, in insert order; every row of a table has the same columns. */
export type SampleTableRows = readonly [table: (typeof SAMPLE_TABLES)[number], rows: readonly SampleRow[]];

/** A generated sample row: column -> value, dates and date-times as ISO text. */
export type SampleRow = Readonly<Record<string, string | number | null>>;

/**
 * The rows createSampleDatabase writes, table by table in insert order, for filling the same practice into
 * another engine. Same options, same rows.
 */
export function sampleRows(options: SampleDatabaseOptions): SampleTableRows[] {
  const patients = options.patients ?? SAMPLE_DEFAULT_PATIENTS;
  if (!Number.isInteger(patients) || patients < 1) throw new RangeError('patients must be a positive integer');
  return generateRows(createRandom(options.seed ?? hashSeed(options.pmsId)), options, patients);
}

function generateRows(random: Random, options: SampleDatabaseOptions, patientCount: number): SampleTableRows[] {
  const [city, state, zip] = random.pick(CITIES);
  const practice: Row = {
    PmsId: options.pmsId,
    PracticeName: options.practiceName,
    PmsVersion: SAMPLE_PMS_VERSION,
    Address: street(random),
    City: city,
    State: state,
    Zip: `${zip}${random.int(10, 99)}`,
    Phone: phone(random, state),
  };
  const integration: Row[] = [
    { Name: SAMPLE_INTEGRATION, Enabled: 1, DateTEnabled: dateTime(REFERENCE_MS - 30 * DAY_MS + 9 * 3_600_000), PairingCode: samplePairingCode(options.pmsId) },
    { Name: 'eServices', Enabled: 0, DateTEnabled: null, PairingCode: null },
  ];
  const provider = providers(random);
  const operatory = operatories();
  const patients = patientRows(random, patientCount);
  const appointments = appointmentRows(random, patients);
  return [
    ['practice', [practice]],
    ['integration', integration],
    ['provider', provider],
    ['operatory', operatory],
    ['patient', patients],
    ['appointment', appointments],
  ];
}

function providers(random: Random): Row[] {
  const specialties = ['General', 'General', 'Endodontics', 'Hygienist', 'Hygienist', 'General'];
  return specialties.map((specialty, index) => {
    const female = random.chance(0.55);
    const fName = random.pick(female ? FEMALE_NAMES : MALE_NAMES);
    const lName = random.pick(SURNAMES);
    const provNum = index + 1;
    const hygienist = HYGIENISTS.includes(provNum);
    return {
      ProvNum: provNum,
      Abbr: `${hygienist ? 'HYG' : 'DOC'}${provNum}`,
      LName: lName,
      FName: fName,
      MI: random.chance(0.5) ? letter(random) : '',
      Suffix: hygienist ? 'RDH' : 'DDS',
      Specialty: specialty,
      IsSecondary: hygienist ? 1 : 0,
      IsHidden: provNum === FORMER_DENTIST ? 1 : 0,
      ProvColor: random.int(0, 0xffffff),
      NationalProvID: String(random.int(1_000_000_000, 1_999_999_999)),
      ItemOrder: index,
    };
  });
}

function operatories(): Row[] {
  return [...DENTIST_OPS, ...HYGIENE_OPS].map((opNum, index) => {
    const hygiene = HYGIENE_OPS.includes(opNum);
    const number = hygiene ? opNum - DENTIST_OPS.length : opNum;
    return {
      OperatoryNum: opNum,
      OpName: hygiene ? `Hygiene ${number}` : `Operatory ${number}`,
      Abbrev: hygiene ? `HYG${number}` : `OP${number}`,
      ItemOrder: index,
      IsHidden: 0,
      ProvDentist: hygiene ? 0 : DENTISTS[index] ?? 0,
      ProvHygienist: hygiene ? HYGIENISTS[number - 1] ?? 0 : 0,
      IsHygiene: hygiene ? 1 : 0,
    };
  });
}

function patientRows(random: Random, count: number): Row[] {
  const rows: Row[] = [];
  for (let patNum = 1; patNum <= count; patNum += 1) {
    // About a fifth of patients join an earlier patient's household: same surname, address and guarantor.
    const household = rows.length > 0 && random.chance(0.22) ? random.pick(rows) : undefined;
    const gender = random.weighted([[GENDER.male, 48], [GENDER.female, 50], [GENDER.unknown, 2]] as const);
    const fName = random.pick(gender === GENDER.male ? MALE_NAMES : gender === GENDER.female ? FEMALE_NAMES : SURNAMES);
    const lName = household ? String(household.LName) : random.pick(SURNAMES);
    const [city, state, zip] = random.pick(CITIES);
    const status = random.weighted([
      [PATIENT_STATUS.patient, 85], [PATIENT_STATUS.inactive, 5], [PATIENT_STATUS.archived, 3],
      [PATIENT_STATUS.nonPatient, 2], [PATIENT_STATUS.deceased, 1], [PATIENT_STATUS.prospective, 4],
    ] as const);
    const ageYears = random.weighted([[random.int(1, 12), 15], [random.int(13, 25), 17], [random.int(26, 64), 50], [random.int(65, 95), 18]]);
    const birthMs = REFERENCE_MS - Math.floor(ageYears * 365.25 * DAY_MS) - random.int(0, 364) * DAY_MS;
    const firstVisitMs = status === PATIENT_STATUS.prospective
      ? undefined
      : Math.max(EARLIEST_VISIT_MS, birthMs + 365 * DAY_MS) + random.int(0, 4_000) * DAY_MS;
    const firstVisit = firstVisitMs === undefined || firstVisitMs >= REFERENCE_MS ? undefined : firstVisitMs;
    const nickname = NICKNAMES[fName];
    rows.push({
      PatNum: patNum,
      LName: lName,
      FName: fName,
      MiddleI: random.chance(0.6) ? letter(random) : '',
      Preferred: nickname && random.chance(0.4) ? nickname : '',
      PatStatus: status,
      Gender: gender,
      Birthdate: date(birthMs),
      Email: random.chance(0.85) ? email(random, fName, lName) : '',
      HmPhone: household ? String(household.HmPhone) : random.chance(0.6) ? phone(random, state) : '',
      WirelessPhone: random.chance(0.9) ? phone(random, state) : '',
      Address: household ? String(household.Address) : street(random),
      City: household ? String(household.City) : city,
      State: household ? String(household.State) : state,
      Zip: household ? String(household.Zip) : `${zip}${random.int(10, 99)}`,
      Guarantor: household ? Number(household.Guarantor) : patNum,
      PriProv: status === PATIENT_STATUS.inactive || status === PATIENT_STATUS.archived
        ? random.pick([...DENTISTS, FORMER_DENTIST])
        : random.pick(DENTISTS),
      DateFirstVisit: firstVisit === undefined ? null : date(firstVisit),
      EstBalance: random.chance(0.2) ? random.int(1_500, 90_000) / 100 : 0,
      DateTStamp: dateTime((firstVisit ?? REFERENCE_MS - 20 * DAY_MS) + random.int(0, 600) * 60_000),
    });
  }
  return rows;
}

function appointmentRows(random: Random, patients: readonly Row[]): Row[] {
  const rows: Row[] = [];
  for (const patient of patients) {
    const status = Number(patient.PatStatus);
    const firstVisit = patient.DateFirstVisit === null ? undefined : Date.parse(`${patient.DateFirstVisit}T00:00:00Z`);
    const times: number[] = [];
    if (firstVisit !== undefined) {
      const past = random.weighted([[0, 4], [1, 8], [2, 10], [3, 14], [4, 16], [5, 14], [6, 12], [7, 9], [8, 7]]);
      const span = Math.max(1, Math.floor((REFERENCE_MS - firstVisit) / DAY_MS));
      times.push(firstVisit);
      for (let i = 1; i < past; i += 1) times.push(firstVisit + random.int(1, span) * DAY_MS);
    }
    const active = status === PATIENT_STATUS.patient || status === PATIENT_STATUS.prospective;
    if (active && random.chance(status === PATIENT_STATUS.prospective ? 0.9 : 0.55)) {
      times.push(REFERENCE_MS + random.int(0, 180) * DAY_MS);
    }
    times.sort((a, b) => a - b);
    times.forEach((day, index) => rows.push(appointment(random, rows.length + 1, patient, weekday(day), index === 0)));
  }
  return rows;
}

function appointment(random: Random, aptNum: number, patient: Row, day: number, isNew: boolean): Row {
  const start = day + random.int(8 * 6, 16 * 6) * 600_000; // 08:00 to 16:00 in ten-minute steps
  const hygiene = !isNew && random.chance(0.55);
  const pattern = random.pick(hygiene ? ['//XXXX//', '/XXXX/', '//XXXXXX//'] : ['XXXX', 'XXXXXX', '//XXXX//', '/XXXXXXXX/']);
  const past = start < REFERENCE_MS;
  const aptStatus = past
    ? random.weighted([[APPOINTMENT_STATUS.complete, 84], [APPOINTMENT_STATUS.broken, 10], [APPOINTMENT_STATUS.unscheduledList, 6]] as const)
    : APPOINTMENT_STATUS.scheduled;
  const complete = aptStatus === APPOINTMENT_STATUS.complete;
  const arrived = start - random.int(0, 12) * 60_000;
  const seated = start + random.int(0, 15) * 60_000;
  const tooth = random.int(1, 32);
  const description = isNew
    ? 'NewPatEx, FMX, Pro'
    : hygiene
      ? random.pick(['PerEx, Pro, 4BW', 'PerEx, Pro', 'CompEx, Pro, FMX', 'PerioMaint', 'SRP UL, SRP LL'])
      : random.pick([`Comp-1 ${tooth}`, `Comp-2 ${tooth}`, `Crn ${tooth}`, `BU ${tooth}, Crn ${tooth}`, `RCT ${tooth}`, `Ext ${tooth}`, 'Emerg Ex, PA']);
  return {
    AptNum: aptNum,
    PatNum: Number(patient.PatNum),
    AptStatus: aptStatus,
    Pattern: pattern,
    // 0 not called, 1 left message, 2 confirmed, 3 arrived
    Confirmed: complete ? 3 : past ? random.int(0, 2) : random.weighted([[0, 40], [1, 20], [2, 40]]),
    Op: random.pick(hygiene ? HYGIENE_OPS : DENTIST_OPS),
    ProvNum: Number(patient.PriProv) === FORMER_DENTIST && !past ? random.pick(DENTISTS) : Number(patient.PriProv),
    ProvHyg: hygiene ? random.pick(HYGIENISTS) : 0,
    AptDateTime: dateTime(start),
    DateTimeArrived: complete ? dateTime(arrived) : null,
    DateTimeSeated: complete ? dateTime(seated) : null,
    DateTimeDismissed: complete ? dateTime(seated + pattern.length * 5 * 60_000) : null,
    IsNewPatient: isNew ? 1 : 0,
    IsHygiene: hygiene ? 1 : 0,
    ProcDescript: description,
    Note: random.chance(0.08) ? random.pick(APPOINTMENT_NOTES) : '',
    DateTStamp: dateTime(start - random.int(1, 90) * DAY_MS + random.int(0, 480) * 60_000),
  };
}

/** Moves weekend days to the Friday before or the Monday after. */
function weekday(day: number): number {
  const dow = new Date(day).getUTCDay();
  if (dow === 6) return day - DAY_MS;
  if (dow === 0) return day + DAY_MS;
  return day;
}

function street(random: Random): string {
  return `${random.int(1, 9999)} ${random.pick(STREETS)} ${random.pick(STREET_SUFFIXES)}`;
}

function phone(random: Random, state: string): string {
  // 555-01xx numbers are reserved for fiction.
  return `(${AREA_CODES[state] ?? '503'}) 555-01${String(random.int(0, 99)).padStart(2, '0')}`;
}

function email(random: Random, fName: string, lName: string): string {
  const local = `${fName}.${lName}`.toLowerCase().replace(/[^a-z.]/g, '');
  return `${local}${random.int(1, 99)}@${random.pick(EMAIL_DOMAINS)}`;
}

function letter(random: Random): string {
  return String.fromCharCode(65 + random.int(0, 25));
}

function date(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function dateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}
