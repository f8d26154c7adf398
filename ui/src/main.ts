import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { theme } from './model/theme.svelte';

theme.init();

const target = document.getElementById('app');
if (!target) throw new Error('#app element missing');

export default mount(App, { target });
