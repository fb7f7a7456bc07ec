import { runAction } from '@slipway/core';
import { main, post } from './main.js';

void runAction({ main, post });
