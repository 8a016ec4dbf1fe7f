import type { Connector } from '../../connector/connector.ts';

/**
 * What the login may do in the connected database, read at start-up. Each column is 1 when the login has the
 * permission (directly, through a role such as db_datawriter / db_owner, or as sysadmin) and 0 when it does not
 * or it is denied (db_denydatawriter denies INSERT, UPDATE and DELETE on every table).
 */
export const LOGIN_ACCESS_SQL = [
  'SELECT',
  "CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'INSERT') AS int) AS can_insert,",
  "CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'UPDATE') AS int) AS can_update,",
  "CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'DELETE') AS int) AS can_delete,",
  "CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'ALTER') AS int) AS can_alter,",
  "CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE') AS int) AS can_create_table,",
  "CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'EXECUTE') AS int) AS can_execute,",
  "CAST(IS_ROLEMEMBER('db_denydatawriter') AS int) AS is_denydatawriter,",
  "CAST(IS_SRVROLEMEMBER('sysadmin') AS int) AS is_sysadmin",
].join(' ');

/** The start-up verdict on the login. */
export interface LoginAccess {
  /** False when the check itself could not run (then canWrite is unknown and treated as true). */
  checked: boolean;
  canWrite: boolean;
  /** What it may do that a read-only login must not, e.g. ['INSERT', 'ALTER', 'sysadmin']. */
  findings: string[];
}

const WRITE_COLUMNS = ['can_insert', 'can_update', 'can_delete', 'can_alter', 'can_create_table'] as const;

/** Runs LOGIN_ACCESS_SQL; never throws (a failed check is reported as unchecked). */
export async function checkLoginAccess(connector: Connector): Promise<LoginAccess> {
  try {
    const result = await connector.query({
      text: LOGIN_ACCESS_SQL, parameters: [], executionMode: 'reader', deadline: Date.now() + 15_000, maxRows: 1,
    });
    const row = result.rows[0];
    if (!row) return { checked: false, canWrite: true, findings: ['the permission check returned no row'] };
    const value = (name: string) => {
      const index = result.columns.findIndex((c) => c.name.toLowerCase() === name);
      return index >= 0 ? Number(row[index]) : Number.NaN;
    };
    const findings: string[] = [];
    for (const column of WRITE_COLUMNS) {
      if (value(column) !== 0) findings.push(column.slice(4).replace('_', ' ').toUpperCase());
    }
    if (value('is_sysadmin') === 1) findings.push('sysadmin');
    if (value('is_denydatawriter') !== 1) findings.push('not in db_denydatawriter');
    const canWrite = WRITE_COLUMNS.some((c) => value(c) !== 0) || value('is_sysadmin') === 1;
    return { checked: true, canWrite, findings };
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unknown error';
    return { checked: false, canWrite: true, findings: [`the permission check failed: ${reason}`] };
  }
}

/** The loud start-up warning for a login that can write (or could not be checked). */
export function loginAccessWarning(identity: string, user: string, access: LoginAccess): string {
  const what = access.checked ? `CAN WRITE (${access.findings.join(', ')})` : `could not be checked (${access.findings.join('; ')})`;
  return `SQL Server login "${user}" on ${identity} ${what}. Halo only reads from this database: give it a login ` +
    'that is a member of db_datareader and db_denydatawriter and nothing else (see the @halo/pms README, ' +
    '"SQL Server: least-privilege login"). The read-only guard still refuses writes, but it is a backstop, not the control.';
}
