import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, SQL_DB_TYPES } from '@halo/contracts';
import type { SqlDbType } from '@halo/contracts';
import { bindParameters, convertParameter } from '@halo/pms';
import { param, reader, sampleConnector } from './fixtures.ts';

// For every SqlDbType: values that convert (with the expected result) and values that must be refused.
const CASES: Record<SqlDbType, { good: [string, unknown][]; bad: string[] }> = {
  TinyInt: { good: [['0', 0], ['255', 255]], bad: ['256', '-1', '1.5', 'abc', ''] },
  SmallInt: { good: [['-32768', -32768], ['32767', 32767]], bad: ['32768', '1e3'] },
  Int: { good: [['42', 42], ['-2147483648', -2147483648], [' 7 ', 7]], bad: ['2147483648', '4.2', '0x10', 'NaN'] },
  BigInt: { good: [['9223372036854775807', 9223372036854775807n], ['-5', -5n]], bad: ['9223372036854775808', '1.0'] },
  Bit: { good: [['1', 1], ['0', 0], ['true', 1], ['FALSE', 0]], bad: ['2', 'yes', ''] },
  Float: { good: [['1.5', 1.5], ['-2e3', -2000], ['.5', 0.5]], bad: ['1e999', 'Infinity', 'abc', ''] },
  Real: { good: [['3.25', 3.25]], bad: ['1,5'] },
  // Decimals come back as their exact text, range-checked as SQL Server would (Decimal: 38 digits at most).
  Decimal: {
    good: [['123.45', '123.45'], ['-0.01', '-0.01'], [' +7 ', '7'], ['.5', '.5'], ['99999999999999999999', '99999999999999999999'], ['9'.repeat(38), '9'.repeat(38)], [`0.${'1'.repeat(38)}`, `0.${'1'.repeat(38)}`]],
    bad: ['1e5', '12a', '', '.', '1.2.3', '9'.repeat(39), `1.${'0'.repeat(38)}`],
  },
  Money: {
    good: [['19.99', '19.99'], ['922337203685477.5807', '922337203685477.5807'], ['-922337203685477.5808', '-922337203685477.5808']],
    bad: ['$19.99', '922337203685477.5808', '-922337203685477.5809', '99999999999999999999', '1.23456'],
  },
  SmallMoney: { good: [['5', '5'], ['214748.3647', '214748.3647'], ['-214748.3648', '-214748.3648']], bad: ['five', '214748.3648', '-214748.3649', '0.00001'] },
  Date: { good: [['2024-02-29', '2024-02-29']], bad: ['2023-02-29', '2024-13-01', '2024-1-1', '2024-01-01T00:00'] },
  DateTime: {
    good: [['2025-01-06 09:30', '2025-01-06T09:30:00'], ['2025-01-06T09:30:15.123', '2025-01-06T09:30:15.123'], ['2025-01-06', '2025-01-06T00:00:00']],
    bad: ['2025-01-06T24:00', '2025-01-06T09:60', '2025-01-06Z', 'yesterday'],
  },
  DateTime2: { good: [['2025-01-06T09:30:15.1234567', '2025-01-06T09:30:15.1234567']], bad: ['2025-01-32'] },
  SmallDateTime: { good: [['2025-01-06 09:30:00', '2025-01-06T09:30:00']], bad: ['06/01/2025'] },
  DateTimeOffset: {
    good: [['2025-01-06T09:30:00+10:00', '2025-01-06T09:30:00+10:00'], ['2025-01-06 09:30Z', '2025-01-06T09:30:00Z']],
    bad: ['2025-01-06T09:30:00', '2025-01-06T09:30:00+15:00'],
  },
  Time: { good: [['09:30', '09:30:00'], ['23:59:59.5', '23:59:59.5']], bad: ['24:00', '9:30'] },
  UniqueIdentifier: {
    good: [['0f8fad5b-d9cb-469f-a165-70867728950e', '0f8fad5b-d9cb-469f-a165-70867728950e'], ['{0F8FAD5B-D9CB-469F-A165-70867728950E}', '0F8FAD5B-D9CB-469F-A165-70867728950E']],
    bad: ['0f8fad5b-d9cb-469f-a165-70867728950', 'not-a-guid'],
  },
  VarBinary: { good: [['AAEC', Buffer.from([0, 1, 2])], ['', Buffer.alloc(0)]], bad: ['AAE', 'AA!C', 'AAEC='] },
  Binary: { good: [['/w==', Buffer.from([255])]], bad: ['/w='] },
  Image: { good: [['iVBORw0KGgo=', Buffer.from('iVBORw0KGgo=', 'base64')]], bad: ['%%%%'] },
  Char: { good: [['A', 'A']], bad: [] },
  NChar: { good: [['é', 'é']], bad: [] },
  VarChar: { good: [[' spaced ', ' spaced ']], bad: [] },
  NVarChar: { good: [['O\'Brien', 'O\'Brien'], ['', '']], bad: [] },
  Text: { good: [['long text', 'long text']], bad: [] },
  NText: { good: [['ünïcode', 'ünïcode']], bad: [] },
  Xml: { good: [['<a/>', '<a/>']], bad: [] },
};

test('every SqlDbType converts good values and refuses bad ones without echoing them', () => {
  assert.deepEqual(Object.keys(CASES).sort(), [...SQL_DB_TYPES].sort());
  for (const [type, { good, bad }] of Object.entries(CASES) as [SqlDbType, (typeof CASES)[SqlDbType]][]) {
    for (const [value, expected] of good) {
      assert.deepEqual(convertParameter(param('@value', type, value)), expected, `${type} ${value}`);
    }
    assert.equal(convertParameter(param('@value', type, null)), null, `${type} null`);
    for (const value of bad) {
      assert.throws(() => convertParameter(param('@secretParam', type, value)), (error: unknown) => {
        assert.ok(error instanceof AppError, `${type} ${value}`);
        assert.equal(error.code, 'bad_request');
        assert.match(error.message, /@secretParam/);
        if (value.length > 1) assert.ok(!error.message.includes(value), `message echoes the value for ${type}`);
        return true;
      }, `${type} ${JSON.stringify(value)} should be refused`);
    }
  }
});

test('Decimal keeps to its precision and scale where the parameter gives them; range errors name the parameter', () => {
  const decimal = (value: string, precision?: number, scale?: number) =>
    convertParameter({ ...param('@amount', 'Decimal', value), ...(precision === undefined ? {} : { precision }), ...(scale === undefined ? {} : { scale }) });
  assert.equal(decimal('12345.67', 7, 2), '12345.67');
  assert.equal(decimal('-0.5', 1, 1), '-0.5');
  assert.throws(() => decimal('123456.7', 7, 2), (e: unknown) => e instanceof AppError && e.code === 'bad_request' && /@amount is out of range for Decimal\(7, 2\)/.test(e.message));
  assert.throws(() => decimal('1.234', 7, 2), /@amount has more than 2 decimal places/);
  assert.throws(() => decimal('1.5', 5), /@amount has more than 0 decimal places/); // scale defaults to 0, as SqlParameter's
  assert.throws(() => convertParameter(param('@price', 'Money', '99999999999999999999')), /@price is out of range for Money/);
});

test('parameters bind by bare name, with or without @', () => {
  const bound = bindParameters([param('@patNum', 'Int', '5'), param('lName', 'NVarChar', 'Lee')]);
  assert.deepEqual({ ...bound }, { patNum: 5n, lName: 'Lee' }); // integers bind as bigint so SQLite sees INTEGER
  assert.throws(() => bindParameters([param('@x', 'Int', '1'), param('x', 'Int', '1')]), /more than once/);
  assert.throws(() => bindParameters([param('@bad name', 'Int', '1')]), (error: unknown) => error instanceof AppError && error.code === 'bad_request');
});

test('converted values reach SQLite with the right storage class', async (t) => {
  const { connector } = await sampleConnector(t, { patients: 5 });
  const result = await connector.query(reader(
    'SELECT @big, typeof(@big), @bit, typeof(@bit), @money, typeof(@money), @when, @blob, typeof(@blob), @none, typeof(@none), typeof(@int), @int / 2',
    {
      parameters: [
        param('@int', 'Int', '7'),
        param('@big', 'BigInt', '9007199254740993'),
        param('@bit', 'Bit', 'true'),
        param('@money', 'Money', '12.5'),
        param('@when', 'DateTime', '2025-01-06 08:00'),
        param('@blob', 'VarBinary', 'AQID'),
        param('@none', 'NVarChar', null),
      ],
    },
  ));
  assert.deepEqual(result.rows, [[
    '9007199254740993', 'integer', 1, 'integer', 12.5, 'real', '2025-01-06T08:00:00', 'AQID', 'blob', null, 'null', 'integer', 3,
  ]]);
  // A decimal a double cannot hold exactly binds as its text: every digit comes back.
  const exact = await connector.query(reader('SELECT @big, typeof(@big), @small, typeof(@small)', {
    parameters: [param('@big', 'Decimal', '99999999999999999999'), param('@small', 'Decimal', '0.25')],
  }));
  assert.deepEqual(exact.rows, [['99999999999999999999', 'text', 0.25, 'real']]);
  const limited = await connector.query(reader('SELECT PatNum FROM patient ORDER BY PatNum LIMIT @n', { parameters: [param('@n', 'SmallInt', '2')] }));
  assert.deepEqual(limited.rows, [[1], [2]]);
});
