// Stored procedure calls on PostgreSQL and MariaDB/MySQL, built from a procedure's name and Halo's directed
// parameters. Arguments go in request order (returnValue excluded); output values are read from one row.
import { AppError } from '@halo/contracts';
import type { Cell, QueryParameter, ResultParameter } from '@halo/contracts';
import { parameterKey } from '../../parameters/convert-parameter.ts';
import { outputParameters, resultParameter } from '../../connector/procedure-call.ts';
import { bindServerStatement } from './server-parameters.ts';
import type { BoundStatement } from './server-parameters.ts';

/** A procedure call as a session runs it. */
export interface ProcedurePlan extends BoundStatement {
  /** Run before the call, in the same transaction (MariaDB: session variables of the OUT/INOUT arguments). */
  prologue?: string[];
  /** MariaDB: a SELECT of the OUT/INOUT variables, run after the call; its row holds the output values. */
  epilogue?: string;
  /** PostgreSQL: the call's own single row holds the output values (CALL's INOUT/OUT, a function's result). */
  outputsFromResult?: boolean;
  /** The output values (in `outputs` order) from that row, as result parameters. */
  outputs(row: readonly Cell[] | undefined): ResultParameter[];
}

const toOutputs = (wanted: QueryParameter[]) => (row: readonly Cell[] | undefined): ResultParameter[] =>
  wanted.map((p, i) => resultParameter(p, row?.[i]));

/**
 * PostgreSQL: a returnValue makes it a function, `SELECT name(args)` whose value is the returnValue; output or
 * inputOutput parameters make it `CALL name(args)` (an output-only argument is NULL), whose row holds them in
 * order; otherwise a reader `SELECT * FROM name(args)` (a set-returning function) or a nonQuery `CALL`.
 */
export function postgresProcedure(name: string, parameters: readonly QueryParameter[], nonQuery: boolean): ProcedurePlan {
  const wanted = outputParameters(parameters);
  const returns = wanted.some((p) => p.direction === 'returnValue');
  if (returns && wanted.length > 1) {
    throw new AppError('procedures_not_supported', 'on PostgreSQL a returnValue is a function\'s result: call a procedure (CALL) for output parameters, or a function for a returnValue, not both');
  }
  const args = parameters.filter((p) => p.direction !== 'returnValue');
  const list = args.map((p) => (p.direction === 'output' ? 'NULL' : `@${parameterKey(p.name)}`)).join(', ');
  const inputs = args.filter((p) => p.direction !== 'output');
  const text = returns ? `SELECT ${name}(${list})` : wanted.length > 0 || nonQuery ? `CALL ${name}(${list})` : `SELECT * FROM ${name}(${list})`;
  return { ...bindServerStatement(text, inputs, 'postgres'), outputsFromResult: wanted.length > 0, outputs: toOutputs(wanted) };
}

/**
 * MariaDB/MySQL: `CALL name(args)` where each output or inputOutput argument is a session variable (set first for
 * inputOutput), read back with a SELECT after the call. Their procedures have no return value.
 */
export function mysqlProcedure(name: string, parameters: readonly QueryParameter[]): ProcedurePlan {
  if (parameters.some((p) => p.direction === 'returnValue')) {
    throw new AppError('procedures_not_supported', 'MariaDB and MySQL procedures have no return value: use an OUT parameter');
  }
  const variable = (i: number) => `@halo_arg_${i}`;
  const literal = (p: QueryParameter) => bindServerStatement(`@${parameterKey(p.name)}`, [p], 'mysql').text;
  const prologue: string[] = [];
  const list = parameters.map((p, i) => {
    if (p.direction === 'input') return literal(p);
    prologue.push(`SET ${variable(i)} = ${p.direction === 'inputOutput' ? literal(p) : 'NULL'}`);
    return variable(i);
  });
  const wanted = outputParameters(parameters);
  const read = parameters.flatMap((p, i) => (p.direction === 'input' ? [] : [variable(i)]));
  return {
    text: `CALL ${name}(${list.join(', ')})`,
    values: [],
    prologue,
    ...(read.length > 0 ? { epilogue: `SELECT ${read.join(', ')}` } : {}),
    outputs: toOutputs(wanted),
  };
}
