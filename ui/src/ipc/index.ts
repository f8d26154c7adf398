export * from './types';
export * from './commands';
