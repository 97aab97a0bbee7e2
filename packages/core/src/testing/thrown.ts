/**
 * The error `fn` throws, checked to be a `type`, for tests that inspect an error's fields (a
 * ConfigValidationError's issues, a ConfigError's path) rather than only its message.
 */
export function errorThrownBy<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected a ${type.name} to be thrown, but nothing was`);
}
