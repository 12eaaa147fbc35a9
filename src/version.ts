/** This package's version (a test checks it against package.json): the tracer's version and `deferred --version`. */
export const VERSION = '0.1.0';
