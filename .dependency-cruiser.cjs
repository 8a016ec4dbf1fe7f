// Layering rules of docs/architecture.md, checked by `npm run lint` (dependency-cruiser: it follows type-only
// imports too, which ESLint's cycle rules skip, and resolves workspace packages to their real files).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'No file takes part in an import cycle, type-only imports included: split the shared part out.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-service-to-service',
      comment: 'Services never import another service: move what both need into libs/.',
      severity: 'error',
      from: { path: '^services/([^/]+)/' },
      to: { path: '^services/', pathNot: '^services/$1/' },
    },
    {
      name: 'no-libs-to-services',
      comment: 'Libraries never import services.',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^services/' },
    },
    {
      name: 'no-package-to-test-folder',
      comment: 'Packages never import the cross-service test folder (test/ imports them, not the reverse).',
      severity: 'error',
      from: { path: '^(libs|services)/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-relative-out-of-package',
      comment: 'A relative import stays inside its package; packages meet through their public entry (@halo/x).',
      severity: 'error',
      from: { path: '^(libs|services)/([^/]+)/' },
      to: { dependencyTypes: ['local'], pathNot: '^$1/$2/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'Every import resolves; another package is reachable only through its public entry (its exports map).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-testkit-in-shipped-code',
      comment: 'Shipped code (src/ of every package but testkit) never imports the test harness.',
      severity: 'error',
      from: { path: '^(libs|services)/[^/]+/src/', pathNot: '^libs/testkit/' },
      to: { path: '^libs/testkit/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|\\.tools|\\.halo|dist)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'default'], extensions: ['.ts', '.js', '.mjs'] },
  },
};
