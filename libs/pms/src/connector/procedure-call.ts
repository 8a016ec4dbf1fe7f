import { AppError } from '@halo/contracts';
import type { Cell, QueryParameter, ResultParameter } from '@halo/contracts';
import type { QueryInput } from './connector.ts';

// A procedure name as the connector puts it into a call: up to three dot-separated identifiers (SQL Server's
// [bracketed] parts included), so a name can never carry a second statement.
const PROCEDURE_NAME = /^(?:[A-Za-z_][A-Za-z0-9_$#@]*|\[[^\]\r\n]{1,128}\])(?:\.(?:[A-Za-z_][A-Za-z0-9_$#@]*|\[[^\]\r\n]{1,128}\])){0,2}$/;
const BRACKETED = /\[/;

/** True when the input calls a stored procedure. */
export function isProcedureCall(input: QueryInput): boolean {
  return input.commandType === 'storedProcedure';
}

/**
 * Refuses what no engine can run: output directions outside a procedure call, a procedure name that is not a
 * plain (schema-qualified) name, more than one returnValue. `brackets`: SQL Server's [quoted] name parts are allowed.
 */
export function checkProcedureInput(input: QueryInput, brackets: boolean): void {
  if (!isProcedureCall(input)) {
    const directed = input.parameters.find((p) => p.direction !== 'input');
    if (directed) throw new AppError('bad_request', `parameter direction ${directed.direction} needs command type storedProcedure`);
    return;
  }
  const name = input.text.trim();
  if (!PROCEDURE_NAME.test(name) || (!brackets && BRACKETED.test(name))) {
    throw new AppError('bad_request', 'a storedProcedure command\'s text must be the procedure\'s name, e.g. "dbo.GetPatient"');
  }
  if (input.parameters.filter((p) => p.direction === 'returnValue').length > 1) {
    throw new AppError('bad_request', 'a procedure call has at most one returnValue parameter');
  }
}

/** Parameters whose values come back (output, inputOutput, returnValue), in request order. */
export function outputParameters(parameters: readonly QueryParameter[]): QueryParameter[] {
  return parameters.filter((p) => p.direction !== 'input');
}

/** One output value as Halo returns it: the value as a string (null stays null). */
export function resultParameter(parameter: QueryParameter, value: Cell | undefined): ResultParameter {
  return {
    name: parameter.name,
    direction: parameter.direction,
    type: parameter.type,
    value: value === null || value === undefined ? null : String(value),
    ...(parameter.size === undefined ? {} : { size: parameter.size }),
  };
}
