// Decimal, Money and SmallMoney parameters: checked against SQL Server's ranges and kept as their exact digits.
// A JS number holds ~15-17 significant digits, so "99999999999999999999" would come back as 1e20; these values
// travel as text (or, for tedious, as a scaled BigInt) and are never parsed into a float.
import { AppError } from '@halo/contracts';
import type { QueryParameter } from '@halo/contracts';

/** A validated decimal value: its text as given (trimmed, no leading '+') and its digits. */
export interface DecimalValue {
  /** The value as it travels to the engine, e.g. "-12.50". */
  text: string;
  negative: boolean;
  /** Digits before the point, leading zeros removed ('' for zero). */
  whole: string;
  /** Digits after the point, as given. */
  fraction: string;
}

/** Largest precision SQL Server's decimal takes. */
export const MAX_DECIMAL_PRECISION = 38;

const SHAPE = /^([+-]?)(\d*)(?:\.(\d*))?$/;

// Money types hold ten-thousandths in a signed 64 / 32-bit integer.
const MONEY_RANGES = {
  Money: { min: -(2n ** 63n), max: 2n ** 63n - 1n, shown: '-922,337,203,685,477.5808 to 922,337,203,685,477.5807' },
  SmallMoney: { min: -(2n ** 31n), max: 2n ** 31n - 1n, shown: '-214,748.3648 to 214,748.3647' },
} as const;
const MONEY_SCALE = 4;

/**
 * Parses a Decimal, Money or SmallMoney parameter; bad_request naming the parameter (never its value) when the
 * text is not a plain decimal number or does not fit the type (and, for Decimal, the given precision and scale).
 */
export function parseDecimalParameter(parameter: QueryParameter & { value: string }, label: string): DecimalValue {
  const type = parameter.type;
  const match = SHAPE.exec(parameter.value.trim());
  const whole = (match?.[2] ?? '').replace(/^0+/, '');
  const fraction = match?.[3] ?? '';
  if (!match || (match[2] === '' && fraction === '')) throw new AppError('bad_request', `${label} is not a valid ${type}`);
  const value: DecimalValue = {
    text: parameter.value.trim().replace(/^\+/, ''),
    negative: match[1] === '-' && /[1-9]/.test(whole + fraction),
    whole,
    fraction,
  };
  if (type === 'Money' || type === 'SmallMoney') {
    const range = MONEY_RANGES[type];
    if (fraction.length > MONEY_SCALE) throw new AppError('bad_request', `${label} has more than ${MONEY_SCALE} decimal places, which ${type} cannot hold`);
    const scaled = scaledDigits(value, MONEY_SCALE);
    if (scaled < range.min || scaled > range.max) throw new AppError('bad_request', `${label} is out of range for ${type} (${range.shown})`);
    return value;
  }
  const { precision, scale } = decimalShape(parameter, value);
  if (fraction.length > scale) throw new AppError('bad_request', `${label} has more than ${scale} decimal places`);
  if (whole.length > precision - scale) {
    throw new AppError('bad_request', `${label} is out of range for Decimal(${precision}, ${scale}): at most ${precision - scale} digits before the point`);
  }
  return value;
}

/** Precision and scale to declare: the parameter's own where given, else the smallest that holds the value. */
export function decimalShape(parameter: Pick<QueryParameter, 'precision' | 'scale'>, value: DecimalValue): { precision: number; scale: number } {
  if (parameter.precision !== undefined) return { precision: parameter.precision, scale: parameter.scale ?? 0 };
  const scale = parameter.scale ?? Math.min(value.fraction.length, MAX_DECIMAL_PRECISION);
  if (parameter.scale !== undefined) return { precision: MAX_DECIMAL_PRECISION, scale };
  return { precision: Math.min(Math.max(value.whole.length + scale, scale, 1), MAX_DECIMAL_PRECISION), scale };
}

/** The value times 10^scale as an exact integer (digits past `scale` must already have been refused). */
export function scaledDigits(value: DecimalValue, scale: number): bigint {
  const magnitude = BigInt(`${value.whole}${value.fraction.padEnd(scale, '0')}` || '0');
  return value.negative ? -magnitude : magnitude;
}
