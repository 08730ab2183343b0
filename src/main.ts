import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { CatalogueError, ConfigError } from './errors.js';
import { createLogger } from './logger.js';
import { loadCatalogue } from './rules/load-catalogue.js';

/** The process: config, catalogue, app, listen, graceful shutdown. The only place that exits. */
function main(): void {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // cards/ sits next to src/ and dist/, so this resolves in development and in the built image.
  const cardsDir = fileURLToPath(new URL('../cards/', import.meta.url));
  let catalogue;
  try {
    catalogue = loadCatalogue(cardsDir);
  } catch (error) {
    if (error instanceof CatalogueError) {
      logger.fatal(`Cannot start: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }

  const app = createApp({ config, catalogue, logger, now: () => new Date(), newId: randomUUID });
  const server = app.listen(config.port, config.host, () => {
    const address = server.address();
    // PORT=0 asks the OS for a free port; report the one actually bound.
    const port = typeof address === 'object' && address ? address.port : config.port;
    logger.info({ host: config.host, port, publicUrl: config.publicUrl, rules: catalogue.rules.length }, 'glutamine-cds listening');
  });
  server.on('error', (error) => {
    logger.fatal({ err: { name: error.name, message: error.message } }, 'cannot listen');
    process.exit(1);
  });

  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    server.close(() => process.exit(0));
    // Hook calls are short; do not wait forever for idle keep-alive sockets.
    setTimeout(() => process.exit(0), 5000).unref();
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => { shutdown('SIGTERM'); });
  process.on('SIGINT', () => { shutdown('SIGINT'); });
}

main();
